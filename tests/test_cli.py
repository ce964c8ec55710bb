"""The real command against temporary stores: ingest, rescan, lookup, matches, db, help, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from conftest import MANIFEST, db_dump, db_rows, fixture_clip, run
from vidtrace.commands.main import cli
from vidtrace.spec import HASH_VERSION, MATCH_VERSION
from vidtrace.store import db
from vidtrace.store.db import writer_lock

# What fixtures/README.md promises: each pair of clips that share content, and the segments
# (seconds in the first clip, seconds in the second).
EXPECTED = {
    ("orig_a.mp4", "a_reencoded.mp4"): [((0, 20), (0, 20))],
    ("orig_a.mp4", "a_trimmed.mp4"): [((6, 16), (0, 10))],
    ("orig_a.mp4", "compilation.mp4"): [((2, 10), (0, 8))],
    ("orig_b.mp4", "compilation.mp4"): [((5, 15), (8, 18))],
    ("a_reencoded.mp4", "a_trimmed.mp4"): [((6, 16), (0, 10))],
    ("a_reencoded.mp4", "compilation.mp4"): [((2, 10), (0, 8))],
    ("a_trimmed.mp4", "compilation.mp4"): [((0, 4), (4, 8))],
}
TOLERANCE_S = 1.0


def _name(side: dict) -> str:
    names = {os.path.basename(u["path"]) for u in side["uploads"]}
    assert len(names) == 1, names
    return names.pop()


def found_pairs(document: dict) -> dict[tuple[str, str], list[tuple[tuple[float, float], tuple[float, float]]]]:
    """Matches keyed by the EXPECTED orientation of their file names."""
    pairs = {}
    for m in document["matches"]:
        a, b = _name(m["a"]), _name(m["b"])
        segments = [((s["a_start"], s["a_end"]), (s["b_start"], s["b_end"])) for s in m["segments"]]
        if (a, b) not in EXPECTED and (b, a) in EXPECTED:
            a, b = b, a
            segments = [(sb, sa) for sa, sb in segments]
        pairs[(a, b)] = segments
    return pairs


def assert_segments_close(found, expected):
    assert len(found) == len(expected), (found, expected)
    for (fa, fb), (ea, eb) in zip(sorted(found), sorted(expected)):
        for got, want in ((fa, ea), (fb, eb)):
            assert abs(got[0] - want[0]) <= TOLERANCE_S and abs(got[1] - want[1]) <= TOLERANCE_S, (found, expected)


def test_ingest_finds_exactly_the_expected_pairs_and_segments(ingested_store):
    result = run(ingested_store, "matches", "--json")
    assert result.exit_code == 0
    pairs = found_pairs(json.loads(result.stdout))
    assert set(pairs) == set(EXPECTED)
    for key, segments in EXPECTED.items():
        assert_segments_close(pairs[key], segments)


def test_matches_outputs_table_json_and_csv(ingested_store):
    table = run(ingested_store, "matches")
    assert table.exit_code == 0 and "orig_a.mp4" in table.stdout and "score" in table.stdout.splitlines()[0]
    csv_out = run(ingested_store, "matches", "--csv")
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("match_id,video_a_id,video_b_id,score")
    assert len(lines) - 1 == sum(len(s) for s in EXPECTED.values())
    assert run(ingested_store, "matches", "--json", "--csv").exit_code == 2


def test_second_ingest_adds_nothing(tmp_path):
    store = tmp_path / "store"
    assert run(store, "ingest", "--manifest", MANIFEST).exit_code == 0
    before = [line for line in db_dump(store) if 'INTO "scans"' not in line]
    again = run(store, "ingest", "--manifest", MANIFEST, "--json")
    assert again.exit_code == 0
    counts = json.loads(again.stdout)["counts"]
    assert counts["new_videos"] == counts["new_uploads"] == counts["new_matches"] == 0
    assert counts["unchanged_uploads"] == counts["files"] > 0
    after = [line for line in db_dump(store) if 'INTO "scans"' not in line]
    assert after == before


def test_lookup_is_read_only_and_rebuilds_a_deleted_index_in_memory(ingested_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(ingested_store, store)
    clip = fixture_clip("a_trimmed.mp4")
    before = db_dump(store)
    first = run(store, "lookup", clip, "--json")
    assert first.exit_code == 0, first.stderr
    assert db_dump(store) == before

    index = store / db.INDEX_FILENAME
    index.unlink()
    second = run(store, "lookup", clip, "--json")
    assert second.exit_code == 0
    assert not index.exists()  # a reading command writes no file in the store
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert db_dump(store) == before


def test_lookup_of_a_file_never_ingested_finds_the_source_at_its_offset(tmp_path, video_tree):
    outsider = tmp_path / "suspect.mp4"
    trimmed = next(video_tree.rglob("a_trimmed.mp4"))
    shutil.move(trimmed, outsider)
    for copy in video_tree.rglob("a_trimmed.mp4"):
        copy.unlink()
    store = tmp_path / "store"
    assert run(store, "ingest", video_tree).exit_code == 0
    result = run(store, "lookup", outsider, "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    names = [{os.path.basename(u["path"]) for u in m["uploads"]} for m in document["matches"]]
    assert {"orig_a.mp4"} in names and {"a_reencoded.mp4"} in names
    orig = next(m for m, n in zip(document["matches"], names) if n == {"orig_a.mp4"})
    (segment,) = orig["segments"]
    assert abs(segment["query_start"] - 0) <= TOLERANCE_S and abs(segment["query_end"] - 10) <= TOLERANCE_S
    assert abs(segment["ref_start"] - 6) <= TOLERANCE_S and abs(segment["ref_end"] - 16) <= TOLERANCE_S
    assert all(n.isdisjoint({"orig_b.mp4", "unrelated_c.mp4"}) for n in names)

    table = run(store, "lookup", outsider)
    assert table.exit_code == 0 and "orig_a.mp4" in table.stdout


def test_bad_files_are_reported_recorded_and_skipped(tmp_path, video_tree):
    account = next(p for p in video_tree.iterdir() if p.is_dir())
    (account / "empty.mp4").write_bytes(b"")
    (account / "notes.mp4").write_text("this is a text file, not a video\n")
    store = tmp_path / "store"
    result = run(store, "ingest", video_tree, "--json")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "empty.mp4" in line or "notes.mp4" in line]
    assert any("empty.mp4" in e and "empty file" in e for e in errors), result.stderr
    assert any("notes.mp4" in e and "not a readable video" in e for e in errors), result.stderr
    document = json.loads(result.stdout)
    failed = {os.path.basename(f["path"]): f["reason"] for f in document["failures"]}
    assert set(failed) == {"empty.mp4", "notes.mp4"}
    assert document["counts"]["new_videos"] == len({p.read_bytes() for p in video_tree.rglob("*.mp4")}) - 2
    failed_rows = db_rows(store, "SELECT error FROM videos WHERE status = 'failed' ORDER BY error")
    assert failed_rows == [("empty file (0 bytes)",), ("not a readable video (ffmpeg: invalid data)",)]
    assert db_rows(
        store, "SELECT count(*) FROM frames WHERE video_id IN (SELECT id FROM videos WHERE status = 'failed')"
    ) == [(0,)]
    # the good files were matched all the same
    pairs = found_pairs(json.loads(run(store, "matches", "--json").stdout))
    assert set(pairs) == set(EXPECTED)


def test_same_file_under_two_accounts_is_one_video_two_uploads(tmp_path):
    root = tmp_path / "videos"
    for account in ("alice", "bob"):
        (root / account).mkdir(parents=True)
        shutil.copy(fixture_clip("orig_a.mp4"), root / account / f"clip_{account}.mp4")
    store = tmp_path / "store"
    result = run(store, "ingest", root, "--json")
    counts = json.loads(result.stdout)["counts"]
    assert (counts["new_videos"], counts["new_uploads"], counts["new_matches"]) == (1, 2, 0)


def ingested_tree(tmp_path, files: dict[str, str]):
    """(root, store): fixture clips copied to root/<account>/<name> and ingested."""
    root = tmp_path / "videos"
    for target, clip in files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture_clip(clip), root / target)
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    return root, store


def test_rescan_adds_new_files_marks_gone_and_recognises_moves(tmp_path):
    root, store = ingested_tree(tmp_path, {"alice/a.mp4": "orig_a.mp4", "bob/c.mp4": "unrelated_c.mp4"})

    nothing = json.loads(run(store, "rescan", "--json").stdout)["counts"]
    assert (nothing["new_uploads"], nothing["new_videos"], nothing["gone_uploads"]) == (0, 0, 0)

    shutil.copy(fixture_clip("a_trimmed.mp4"), root / "bob" / "trimmed.mp4")  # new, matches a.mp4
    (root / "alice" / "a.mp4").rename(root / "alice" / "renamed.mp4")  # moved: same upload
    (root / "bob" / "c.mp4").unlink()  # gone
    result = run(store, "rescan", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    counts = document["counts"]
    assert (counts["new_videos"], counts["new_uploads"], counts["moved_uploads"], counts["gone_uploads"]) == (
        1,
        1,
        1,
        1,
    )
    assert counts["new_matches"] == 1
    (match,) = document["new_matches"]
    assert {_name(match["a"]), _name(match["b"])} == {"renamed.mp4", "trimmed.mp4"}

    table = run(store, "rescan")
    assert table.exit_code == 0 and "0 new uploads" in table.stdout


def test_rescan_fingerprints_again_what_an_older_hash_version_stored(tmp_path):
    _, store = ingested_tree(tmp_path, {"alice/a.mp4": "orig_a.mp4", "bob/trimmed.mp4": "a_trimmed.mp4"})
    frames = "SELECT video_id, ts_s, hex(hash), region FROM frames ORDER BY video_id, ts_s, region"
    before_frames = db_rows(store, frames)
    before_matches = db_rows(store, "SELECT video_a_id, video_b_id, score FROM matches")
    assert len(before_matches) == 1
    # An older version's store: one video hashed differently, with the match found from it.
    conn = sqlite3.connect(store / "vidtrace.db")
    with conn:
        conn.execute("UPDATE videos SET algorithm_version = algorithm_version - 1 WHERE id = 1")
        conn.execute("UPDATE frames SET hash = zeroblob(8) WHERE video_id = 1")
    conn.close()
    # Until then, a lookup and doctor say so, and what brings the video up to date.
    older = f"1 stored video(s) were fingerprinted by an older version of vidtrace (hash version {HASH_VERSION - 1}"
    looked = run(store, "lookup", fixture_clip("a_trimmed.mp4"))
    assert looked.exit_code == 0 and older in looked.stderr and "`vidtrace rescan`" in looked.stderr
    checked = run(store, "doctor")
    assert f"hash_versions: {older}" in checked.stdout

    result = run(store, "rescan", "--json")
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]
    assert counts["refingerprinted_videos"] == 1 and counts["new_videos"] == 0
    assert counts["new_matches"] == 1  # found again from the new frames
    assert db_rows(store, frames) == before_frames  # the same frames as a fresh fingerprint
    # Found again from the other side (the re-fingerprinted video is the query now): the same pair,
    # its score within a hash window's share of the shorter video (an edge instant may hit one
    # way and not the other).
    after_matches = db_rows(store, "SELECT video_a_id, video_b_id, score FROM matches")
    assert [m[:2] for m in after_matches] == [m[:2] for m in before_matches]
    assert abs(after_matches[0][2] - before_matches[0][2]) <= 0.05
    assert db_rows(store, "SELECT DISTINCT algorithm_version FROM videos") == db_rows(
        store, "SELECT DISTINCT algorithm_version FROM matches"
    )
    again = run(store, "rescan", "--json")
    assert json.loads(again.stdout)["counts"]["refingerprinted_videos"] == 0
    lookup = run(store, "lookup", fixture_clip("a_trimmed.mp4"), "--json")
    assert lookup.exit_code == 0, lookup.stderr
    assert "older version" not in lookup.stderr
    assert f"every video is fingerprinted with hash version {HASH_VERSION}" in run(store, "doctor").stdout


def test_rescan_matches_again_what_older_matching_rules_matched(tmp_path):
    _, store = ingested_tree(
        tmp_path,
        {"alice/a.mp4": "orig_a.mp4", "bob/trimmed.mp4": "a_trimmed.mp4", "carol/c.mp4": "unrelated_c.mp4"},
    )
    segments = "SELECT match_id, a_start_s, a_end_s, b_start_s, b_end_s, speed, frames FROM segments ORDER BY id"
    ((match_id, pair_a, pair_b),) = db_rows(store, "SELECT id, video_a_id, video_b_id FROM matches")
    true_segments = db_rows(store, segments)
    assert {v for (v,) in db_rows(store, "SELECT DISTINCT match_version FROM videos")} == {MATCH_VERSION}
    (unrelated,) = {v for (v,) in db_rows(store, "SELECT id FROM videos")} - {pair_a, pair_b}
    # A store matched by older rules: every video without a recorded version, the true match's
    # segment at the wrong speed, and a match the newer rules do not find.
    conn = sqlite3.connect(store / "vidtrace.db")
    with conn:
        conn.execute("UPDATE videos SET match_version = NULL")
        conn.execute("UPDATE segments SET speed = 1.25, b_start_s = b_start_s + 2")
        conn.execute(
            "INSERT INTO matches (video_a_id, video_b_id, score, matched_s, algorithm, algorithm_version, "
            "created_at, signals, kind) SELECT ?, ?, 0.5, 3.0, algorithm, algorithm_version, created_at, signals, "
            "kind FROM matches WHERE id = ?",
            (min(pair_a, unrelated), max(pair_a, unrelated), match_id),
        )
    conn.close()

    noted = run(store, "ingest", tmp_path / "videos")
    assert noted.exit_code == 0 and "3 video(s) were matched by older matching rules" in noted.stdout
    assert len(db_rows(store, "SELECT id FROM matches")) == 2  # an ingest leaves them as they are

    result = run(store, "rescan", "--json")
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]
    assert counts["rematched_videos"] == 3 and counts["dropped_matches"] == 1 and counts["new_matches"] == 0
    # The true match kept its id, its segments as a fresh match has them; the other is gone.
    assert db_rows(store, "SELECT id, video_a_id, video_b_id FROM matches") == [(match_id, pair_a, pair_b)]
    assert db_rows(store, segments) == true_segments
    assert {v for (v,) in db_rows(store, "SELECT DISTINCT match_version FROM videos")} == {MATCH_VERSION}

    again = json.loads(run(store, "rescan", "--json").stdout)["counts"]
    assert again["rematched_videos"] == 0 and again["dropped_matches"] == 0
    table = run(store, "rescan")
    assert "older matching rules" not in table.stdout


def test_a_stale_fingerprint_is_kept_when_the_file_no_longer_decodes(tmp_path):
    root, store = ingested_tree(tmp_path, {"alice/a.mp4": "orig_a.mp4"})
    conn = sqlite3.connect(store / "vidtrace.db")
    with conn:
        conn.execute("UPDATE videos SET algorithm_version = algorithm_version - 1")
    conn.close()
    frames = "SELECT video_id, ts_s, hex(hash), region FROM frames ORDER BY id"
    before = db_rows(store, frames)
    # The same size and modification time (so the upload looks unchanged), unreadable content.
    clip = root / "alice" / "a.mp4"
    st = clip.stat()
    clip.write_bytes(b"\0" * st.st_size)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))

    result = run(store, "rescan", "--json")
    assert result.exit_code == 1  # something failed
    document = json.loads(result.stdout)
    assert document["counts"]["refingerprinted_videos"] == 0
    (failure,) = document["failures"]
    assert failure["path"].endswith("a.mp4") and "kept its fingerprint from an older version" in failure["reason"]
    assert db_rows(store, frames) == before  # nothing stored is lost


def test_a_second_writer_is_refused_with_exit_3(tmp_path):
    store = tmp_path / "store"
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("unrelated_c.mp4"), root)
    assert run(store, "ingest", root.parent).exit_code == 0
    with writer_lock(db.StoreLocation.resolve(store)):
        result = run(store, "rescan")
    assert result.exit_code == 3
    assert "another vidtrace" in result.stderr and result.stderr.startswith("Error: ")


def test_usage_errors_exit_2(tmp_path):
    store = tmp_path / "store"
    missing_store = run(store, "matches")
    assert missing_store.exit_code == 2 and "no store" in missing_store.stderr
    assert run(store, "ingest", tmp_path / "nope").exit_code == 2
    assert run(store, "ingest").exit_code == 2
    assert run(store, "rescan").exit_code == 2  # nothing ingested yet


def test_lookup_of_a_broken_file_exits_1_naming_it(ingested_store, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2048))
    result = run(ingested_store, "lookup", bad)
    assert result.exit_code == 1
    assert "bad.mp4" in result.stderr and "Error:" in result.stderr


def test_db_current_and_upgrade(tmp_path):
    store = tmp_path / "store"
    assert "no database" in run(store, "db", "current").stdout
    upgraded = run(store, "db", "upgrade")
    assert upgraded.exit_code == 0 and db.head_revision() in upgraded.stdout
    assert f"current: {db.head_revision()}" in run(store, "db", "current").stdout


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(_commands(cli)), ids=" ".join)
def test_every_command_has_help_with_an_example(tmp_path, path):
    result = run(tmp_path / "store", *path, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_a_sqlite_database_outside_the_store_folder(tmp_path):
    store = tmp_path / "store"
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'cases.sqlite'}"
    (tmp_path / "elsewhere").mkdir()
    missing = run(store, "matches", db_url=url)
    assert missing.exit_code == 2 and "no store" in missing.stderr
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("orig_a.mp4"), root)
    shutil.copy(fixture_clip("a_trimmed.mp4"), root)
    assert run(store, "ingest", root.parent, db_url=url).exit_code == 0
    assert (tmp_path / "elsewhere" / "cases.sqlite").is_file() and not (store / "vidtrace.db").exists()
    found = run(store, "matches", "--json", db_url=url)
    assert found.exit_code == 0, found.stderr
    assert len(json.loads(found.stdout)["matches"]) == 1
