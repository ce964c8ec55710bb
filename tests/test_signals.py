"""Signals combined: identity first in lookup, copies by pictures, "same soundtrack" by sound alone."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_VIDEOS, SHARED_VIDEOS, db_rows, fixture_clip, run
from test_sound import MELODY, ffmpeg
from vidtrace import match_service, signals
from vidtrace.align import Alignment, Segment
from vidtrace.matching import VideoMatch
from vidtrace.scan import sha256_file


def _alignment(score: float) -> Alignment:
    return Alignment((Segment(0.0, 10.0, 0.0, 10.0, 1.0, 40, 1.0),), 10.0, score)


def test_merge_lists_every_signal_and_takes_pictures_first():
    pictures = [VideoMatch(1, _alignment(0.9)), VideoMatch(2, _alignment(0.5))]
    sound = [VideoMatch(2, _alignment(1.0)), VideoMatch(3, _alignment(0.8))]
    merged = signals.merge({signals.PICTURES: pictures, signals.SOUND: sound})
    assert [(m.video_id, m.signals, m.kind) for m in merged] == [
        (1, ("pictures",), "copy"),
        (2, ("pictures", "sound"), "copy"),
        (3, ("sound",), "same soundtrack"),
    ]
    both = next(m for m in merged if m.video_id == 2)
    assert both.alignment.score == 0.5  # a copy's segments are the pictures'


def test_sound_search_reads_and_aligns_only_the_videos_that_can_align(monkeypatch):
    """A stored soundtrack meeting the query only on values it holds (each repeated for 2.5 s: a
    hum, a held tone) can never align: it is neither read from the store nor aligned. The copy
    is, and is found."""
    from types import SimpleNamespace

    from vidtrace import sound
    from vidtrace.index.sounds import SoundIndex
    from vidtrace.settings import Settings

    query = np.random.default_rng(4).integers(0, 2**32, size=240, dtype=np.uint32)
    held = np.repeat(query[:30], 20)  # 30 of the query's values, each held 20 steps
    index = SoundIndex()
    index.add(1, 1, query.copy())
    index.add(2, 2, held)
    assert set(index.search(query, sound.SOUND_MAX_DISTANCE_BITS)[1].tolist()) == {1, 2}
    read, aligned = [], []
    duration_s = 240 * sound.SOUND_STEP_S

    def videos_by_id(session, ids):
        read.extend(ids)
        return {v: SimpleNamespace(id=v, status="ok", duration_s=duration_s) for v in ids}

    def align_values(q_values, q_duration_s, r_values, *args, **kwargs):
        aligned.append(len(r_values))
        return real_align(q_values, q_duration_s, r_values, *args, **kwargs)

    real_align = sound.align_values
    monkeypatch.setattr(signals.repo, "videos_by_id", videos_by_id)
    monkeypatch.setattr(sound, "align_values", align_values)
    found = signals.Sound().search(None, index, sound.SoundPrint(query), duration_s, Settings(), lambda video: True)
    assert [m.video_id for m in found] == [1] and found[0].alignment.score == 1.0
    assert read == [1] and aligned == [240]


# --- identity -------------------------------------------------------------------------------


def test_a_byte_copy_of_any_stored_fixture_comes_first_at_one(ingested_store, tmp_path):
    clips = sorted(FIXTURE_VIDEOS.rglob("*.mp4"))
    assert len(clips) == 6
    for clip in clips:
        copy = tmp_path / f"copy-of-{clip.name}"
        shutil.copyfile(clip, copy)
        (video_id,) = db_rows(ingested_store, f"SELECT id FROM videos WHERE sha256 = '{sha256_file(clip)}'")[0]
        result = run(ingested_store, "lookup", copy, "--json")
        assert result.exit_code == 0, result.stderr
        matches = json.loads(result.stdout)["matches"]
        first = matches[0]
        assert (first["video_id"], first["score"], first["kind"]) == (video_id, 1.0, "identical file"), clip.name
        assert [m["video_id"] for m in matches].count(video_id) == 1, clip.name
        table = run(ingested_store, "lookup", copy)
        assert table.stdout.splitlines()[2].split()[:4] == ["1", "1.00", str(round(first["matched_s"], 1)), "identical"]


def test_a_stored_file_that_no_longer_decodes_is_still_found_by_identity(tmp_path):
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("orig_b.mp4"), root / "b.mp4")
    store = tmp_path / "store"
    assert run(store, "ingest", root.parent).exit_code == 0
    junk = root / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)  # stored as failed: not a video
    assert run(store, "ingest", root.parent).exit_code == 1
    copy = tmp_path / "again.mp4"
    shutil.copy(junk, copy)
    result = run(store, "lookup", copy, "--json")
    assert result.exit_code == 0, result.stderr
    (match,) = json.loads(result.stdout)["matches"]
    assert match["kind"] == "identical file" and match["score"] == 1.0


# --- sound as a second signal ---------------------------------------------------------------


def _with_sound(pictures: Path, out: Path, seconds: float, *audio: str) -> Path:
    """The pictures of `pictures` (stream copy) with `seconds` of the test tune as their sound."""
    ffmpeg("-i", str(pictures), "-f", "lavfi", "-i", MELODY, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-t", str(seconds), *audio, "-c:a", "aac", "-b:a", "96k", str(out))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def dub_tree(tmp_path_factory) -> Path:
    """voiced: A's pictures with a tune; dub: C's pictures with the same tune; silent: voiced
    re-encoded without sound; copy: voiced re-encoded with its sound."""
    root = tmp_path_factory.mktemp("dubs") / "videos"
    for account in ("news", "dubber", "muter", "copier"):
        (root / account).mkdir(parents=True)
    voiced = _with_sound(fixture_clip("orig_a.mp4"), root / "news" / "voiced.mp4", 20)
    _with_sound(fixture_clip("unrelated_c.mp4"), root / "dubber" / "dub.mp4", 15, "-b:a", "64k")
    ffmpeg(
        "-i",
        str(voiced),
        "-an",
        "-c:v",
        "libx264",
        "-crf",
        "30",
        "-pix_fmt",
        "yuv420p",
        str(root / "muter" / "silent.mp4"),
    )
    ffmpeg("-i", str(voiced), "-c:v", "libx264", "-crf", "28", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
           str(root / "copier" / "copy.mp4"))  # fmt: skip
    return root


@pytest.fixture(scope="module")
def dub_store(dub_tree, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("dub-store") / "store"
    result = run(store, "ingest", dub_tree)
    assert result.exit_code == 0, result.stderr
    return store


def _pairs(store: Path) -> dict[frozenset, dict]:
    result = run(store, "matches", "--json")
    assert result.exit_code == 0, result.stderr
    out = {}
    for m in json.loads(result.stdout)["matches"]:
        names = frozenset(Path(side["uploads"][0]["path"]).stem for side in (m["a"], m["b"]))
        out[names] = m
    return out


def test_a_dub_is_same_soundtrack_and_a_silent_copy_still_matches_by_pictures(dub_store):
    pairs = _pairs(dub_store)
    kinds = {tuple(sorted(k)): (m["kind"], m["signals"]) for k, m in pairs.items()}
    assert kinds == {
        ("dub", "voiced"): ("same soundtrack", ["sound"]),
        ("copy", "dub"): ("same soundtrack", ["sound"]),
        ("silent", "voiced"): ("copy", ["pictures"]),
        ("copy", "voiced"): ("copy", ["pictures", "sound"]),
        ("copy", "silent"): ("copy", ["pictures"]),
    }
    dub = pairs[frozenset({"dub", "voiced"})]
    (seg,) = dub["segments"]
    assert dub["score"] > 0.9 and seg["speed"] == 1.0
    assert abs(seg["a_start"] - seg["b_start"]) < 0.3  # the dub's sound is the tune's first 15 s
    table = run(dub_store, "matches").stdout.splitlines()
    kinds_in_order = [line.split()[2] for line in table if line[:1].isdigit()]
    assert kinds_in_order == ["copy"] * 3 + ["same"] * 2  # copies listed first, related content after


def test_tables_put_same_soundtrack_under_a_heading_of_its_own(dub_store, dub_tree):
    from vidtrace import report
    from vidtrace.lookup import lookup
    from vidtrace.store import db, repo

    store = db.Store.open(db.StoreLocation.resolve(dub_store), create=False)
    try:
        with store.session() as session:
            found = repo.list_matches(session)
            uploads = repo.uploads_of_videos(session, {v for m in found for v in (m.video_a_id, m.video_b_id)})
        text = report.match_tables(found, uploads)
        copies, related = text.split("Related content (same soundtrack over other pictures; not copies):\n")
        assert copies.count(" copy ") == 3 and "same soundtrack" not in copies
        assert related.count("same soundtrack") == 2 and " copy " not in related.replace("copy.mp4", "")
        result = lookup(store, dub_tree / "dubber" / "dub.mp4")
        near, far = report.lookup_tables(result).split("Related content")
        assert [line.split()[0] for line in near.splitlines()[1:] if line.strip()] == ["1"] and "identical file" in near
        assert [line.split()[0] for line in far.splitlines()[2:] if line[:1].isdigit()] == ["2", "3"]
    finally:
        store.close()


def test_postgres_stores_the_same_kinds_and_signals(dub_tree, dub_store, pg_url, tmp_path):
    store = tmp_path / "pg-store"
    result = run(store, "ingest", dub_tree, db_url=pg_url)
    assert result.exit_code == 0, result.stderr
    assert (store / "sounds.faiss").is_file()
    matches = json.loads(run(store, "matches", "--json", db_url=pg_url).stdout)["matches"]
    names = lambda m: tuple(sorted(Path(side["uploads"][0]["path"]).stem for side in (m["a"], m["b"])))  # noqa: E731
    on_pg = {names(m): (m["kind"], m["signals"]) for m in matches}
    on_sqlite = {tuple(sorted(k)): (m["kind"], m["signals"]) for k, m in _pairs(dub_store).items()}
    assert on_pg == on_sqlite


def test_same_soundtrack_relates_clusters_without_merging_them(dub_store):
    result = run(dub_store, "clusters", "--json", "--file-times")
    assert result.exit_code == 0, result.stderr
    clusters = json.loads(result.stdout)["clusters"]
    by_name = {Path(u["path"]).stem: c for c in clusters for u in c["uploads"]}
    copies, dub = by_name["voiced"], by_name["dub"]
    assert by_name["silent"]["id"] == by_name["copy"]["id"] == copies["id"] != dub["id"]
    assert dub["related"] == [{"cluster": copies["id"], "kind": "same soundtrack"}]
    assert copies["related"] == [{"cluster": dub["id"], "kind": "same soundtrack"}]
    report = dub_store.parent / "report.html"
    assert run(dub_store, "report", "--html", report).exit_code == 0
    html = report.read_text()
    assert "Same soundtrack (related content)" in html
    assert html.index("id='copies'") < html.index("id='related'")


def test_lookup_of_a_new_dub_finds_the_soundtrack_apart_from_copies(dub_store, tmp_path):
    new_dub = _with_sound(fixture_clip("orig_b.mp4"), tmp_path / "new_dub.mp4", 20, "-b:a", "48k", "-ar", "48000")
    result = run(dub_store, "lookup", new_dub, "--json")
    assert result.exit_code == 0, result.stderr
    found = {Path(m["uploads"][0]["path"]).stem: m for m in json.loads(result.stdout)["matches"]}
    assert set(found) == {"voiced", "copy", "dub"}
    assert {m["kind"] for m in found.values()} == {"same soundtrack"}
    assert {tuple(m["signals"]) for m in found.values()} == {("sound",)}


def test_rescan_computes_a_missing_sound_print(dub_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(dub_store, store)
    (voiced,) = db_rows(store, "SELECT video_id FROM uploads WHERE path LIKE '%voiced.mp4'")[0]
    before = db_rows(store, f"SELECT value_count FROM sound_prints WHERE video_id = {voiced}")
    conn = sqlite3.connect(store / "vidtrace.db")
    conn.execute(f"DELETE FROM sound_prints WHERE video_id = {voiced}")
    conn.commit()
    conn.close()
    result = run(store, "rescan", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["refingerprinted_videos"] == 1
    assert db_rows(store, f"SELECT value_count FROM sound_prints WHERE video_id = {voiced}") == before
    assert before[0][0] > 100
    # no audio is stored as a print without values, not looked for again
    assert db_rows(
        store, "SELECT value_count FROM sound_prints JOIN uploads USING (video_id) WHERE path LIKE '%silent.mp4'"
    ) == [(0,)]
    assert {tuple(sorted(k)): m["kind"] for k, m in _pairs(store).items()} == {
        tuple(sorted(k)): m["kind"] for k, m in _pairs(dub_store).items()
    }


def test_a_video_over_the_matching_budget_is_marked_matched_with_a_warning(tmp_path, monkeypatch):
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    for name in ("orig_a.mp4", "a_trimmed.mp4"):
        shutil.copy(fixture_clip(name), root / name)

    def over_budget(session, index, queries, *args, **kwargs):
        return [signals.MatchBudgetExceeded("its frame hits exceed the matching memory budget") for _ in queries]

    monkeypatch.setattr(match_service, "match_pictures", over_budget)
    store = tmp_path / "store"
    result = run(store, "ingest", root.parent, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"]["warnings"] == 2 and summary["counts"]["new_matches"] == 0
    assert all("memory budget" in w["reason"] for w in summary["warnings"])
    rows = db_rows(store, "SELECT unmatched_reason, matched_at IS NOT NULL FROM videos")
    assert len(rows) == 2 and all(reason and "memory budget" in reason and matched for reason, matched in rows)


# --- the real talking-head clips (optional) -------------------------------------------------

TALKING = SHARED_VIDEOS / "talking-heads"


def _dubbed(tmp_path: Path, speaker: str, pictures: str, *seek: str) -> tuple[Path, Path, dict]:
    """`speaker`'s clip, and `pictures`' pictures carrying `speaker`'s sound (from `seek`, AAC 64
    kbit/s), ingested from two accounts; the folder, the store and their one match."""
    root = tmp_path / "videos"
    (root / "speaker").mkdir(parents=True)
    (root / "dubber").mkdir()
    shutil.copy(TALKING / speaker, root / "speaker" / speaker)
    ffmpeg(
        *("-i", str(TALKING / pictures), *seek, "-i", str(TALKING / speaker), "-map", "0:v", "-map", "1:a"),
        *("-c:v", "copy", "-c:a", "aac", "-b:a", "64k", "-shortest", str(root / "dubber" / "dub.mp4")),
    )
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    (match,) = json.loads(run(store, "matches", "--json").stdout)["matches"]
    assert (match["kind"], match["signals"]) == ("same soundtrack", ["sound"])
    return root, store, match


@pytest.mark.skipif(not (TALKING / "d6.mp4").is_file(), reason="real talking-head clips not present")
def test_real_clip_dubbed_over_other_pictures_is_same_soundtrack(tmp_path):
    # d12's pictures (7.3 s) carrying d10's sound from 2 s on
    _, _, match = _dubbed(tmp_path, "d10.mp4", "d12.mp4", "-ss", "2")
    seg = match["segments"][0]
    d10_side, dub_side = ("a", "b") if "d10" in match["a"]["uploads"][0]["path"] else ("b", "a")
    assert seg[f"{d10_side}_start"] - seg[f"{dub_side}_start"] == pytest.approx(2.0, abs=0.3)


@pytest.mark.skipif(not (TALKING / "d0.mp4").is_file(), reason="real talking-head clips not present")
def test_a_dub_too_short_for_the_usual_sound_minimum_is_same_soundtrack_both_ways(tmp_path):
    # d0's pictures (3.1 s, silent) carrying the first 3.1 s of d6's sound: a handful of values
    root, store, match = _dubbed(tmp_path, "d6.mp4", "d0.mp4")
    seg = match["segments"][0]
    assert seg["a_start"] == pytest.approx(seg["b_start"], abs=0.3)
    # looked up from either side
    for query, other in (("dubber/dub.mp4", "d6.mp4"), ("speaker/d6.mp4", "dub.mp4")):
        hits = json.loads(run(store, "lookup", "--json", root / query).stdout)["matches"]
        related = [h for h in hits if h["kind"] == "same soundtrack"]
        assert [Path(h["uploads"][0]["path"]).name for h in related] == [other]


def test_sound_prints_travel_with_an_export_and_a_partner_finds_the_dub(dub_store, tmp_path):
    exported = tmp_path / "fp.jsonl.gz"
    assert run(dub_store, "export", exported).exit_code == 0
    partner = tmp_path / "partner"
    result = run(partner, "import", exported, "--source", "lab")
    assert result.exit_code == 0, result.stderr
    original = sorted(
        db_rows(
            dub_store, "SELECT v.sha256, s.value_count, s.data FROM sound_prints s JOIN videos v ON v.id = s.video_id"
        )
    )
    imported = sorted(
        db_rows(
            partner, "SELECT v.sha256, s.value_count, s.data FROM sound_prints s JOIN videos v ON v.id = s.video_id"
        )
    )
    assert imported == original and sum(1 for _, n, _ in imported if n) == 3  # voiced, dub, copy carry sound
    kinds = sorted(
        (m["kind"], tuple(m["signals"])) for m in json.loads(run(partner, "matches", "--json").stdout)["matches"]
    )
    assert kinds == sorted(
        (m["kind"], tuple(m["signals"])) for m in json.loads(run(dub_store, "matches", "--json").stdout)["matches"]
    )


def test_an_import_with_a_malformed_sound_print_reports_the_record(dub_store, tmp_path):
    exported = tmp_path / "fp.jsonl.gz"
    assert run(dub_store, "export", exported).exit_code == 0
    lines = gzip.decompress(exported.read_bytes()).decode().splitlines()
    record = json.loads(lines[1])
    record["sound"] = {
        "algorithm": "chromaprint1",
        "version": 1,
        "step_s": record.get("sound", {}).get("step_s", 0.1238),
        "values": "xyz",
    }
    lines[1] = json.dumps(record)
    forged = tmp_path / "forged.jsonl.gz"
    forged.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = run(tmp_path / "partner", "import", forged, "--source", "lab")
    assert result.exit_code == 1
    assert f"{forged}:2: bad video record: sound" in result.stderr
    assert db_rows(tmp_path / "partner", "SELECT count(*) FROM videos")[0][0] == len(lines) - 2


def test_lookup_searches_the_sound_beside_the_pictures(dub_store, tmp_path, monkeypatch):
    """The sound is searched in a thread and a session of its own while the pictures search:
    the same matches as one after the other; and when the pictures' search fails, the lookup
    fails with it once the sound's thread is done."""
    import threading

    new_dub = _with_sound(fixture_clip("orig_b.mp4"), tmp_path / "new_dub.mp4", 20, "-b:a", "48k", "-ar", "48000")
    seen: dict[str, tuple[str, int]] = {}
    searches = {s.name: type(s).search for s in signals.SIGNALS}

    def recorded(name):
        def search(self, session, *args):
            seen[name] = (threading.current_thread().name, id(session))
            return searches[name](self, session, *args)

        return search

    for s in signals.SIGNALS:
        monkeypatch.setattr(type(s), "search", recorded(s.name))
    result = run(dub_store, "lookup", new_dub, "--json")
    assert result.exit_code == 0, result.stderr
    assert {Path(m["uploads"][0]["path"]).stem for m in json.loads(result.stdout)["matches"]} == {
        "voiced", "copy", "dub"
    }  # fmt: skip
    assert seen[signals.PICTURES][0] == threading.current_thread().name
    assert seen[signals.SOUND][0] != seen[signals.PICTURES][0]
    assert seen[signals.SOUND][1] != seen[signals.PICTURES][1]

    sound_done = threading.Event()

    def slow_sound(self, *args):
        sound_done.wait(0.5)  # still running when the pictures fail
        sound_done.set()
        return []

    def failing_pictures(self, *args):
        raise RuntimeError("the pictures' search failed")

    monkeypatch.setattr(signals.Sound, "search", slow_sound)
    monkeypatch.setattr(signals.Pictures, "search", failing_pictures)
    with pytest.raises(RuntimeError, match="pictures' search failed"):
        run(dub_store, "lookup", new_dub, "--json")
    assert sound_done.is_set()


def test_a_lookup_over_the_matching_budget_fails_in_one_line_naming_the_file(dub_store, tmp_path, monkeypatch):
    new_dub = _with_sound(fixture_clip("orig_b.mp4"), tmp_path / "new_dub.mp4", 20, "-b:a", "48k", "-ar", "48000")

    def over_budget(self, *args):
        raise signals.MatchBudgetExceeded("more than 50,000,000 frame hits after collapsing held pictures")

    monkeypatch.setattr(signals.Pictures, "search", over_budget)
    result = run(dub_store, "--quiet", "lookup", new_dub)
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [
        f"Error: {new_dub}: more than 50,000,000 frame hits after collapsing held pictures"
    ]
