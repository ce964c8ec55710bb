"""Fingerprint export and import: a partner's store finds what the original store finds."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections import Counter

import pytest

from conftest import db_rows, fixture_clip, run
from test_insets import shown_small, talking
from vidtrace.decode import DecodedFrame
from vidtrace.fingerprint import hash_frames
from vidtrace.hashes import to_hex
from vidtrace.records import BadRecord, video_of
from vidtrace.settings import HASH_VERSION
from vidtrace.spec import MAX_HASHES_PER_INSTANT, MAX_HASHES_PER_S


def _comparable(document: dict) -> list:
    return sorted(
        (
            sorted(os.path.basename(u["path"]) for u in m["uploads"]),
            sorted(u["account"] for u in m["uploads"]),
            m["score"],
            m["matched_s"],
            [(s["query_start"], s["query_end"], s["ref_start"], s["ref_end"]) for s in m["segments"]],
        )
        for m in document["matches"]
    )


def test_export_then_import_into_a_fresh_store_finds_the_same_lookup_matches(ingested_store, tmp_path):
    exported = tmp_path / "fingerprints.jsonl.gz"
    result = run(ingested_store, "export", exported)
    assert result.exit_code == 0 and "exported 6 video" in result.stdout
    with gzip.open(exported, "rt") as f:
        header = json.loads(f.readline())
        first = json.loads(f.readline())
    assert header["format"] == "vidtrace-fingerprints" and header["version"] == 1 and header["videos"] == 6
    assert all("/" not in u["file"] for u in first["uploads"])  # no local paths leave the machine

    partner = tmp_path / "partner-store"
    imported = run(partner, "import", exported, "--source", "lab-a")
    assert imported.exit_code == 0, imported.stderr
    assert "imported 6 video(s) from lab-a" in imported.stdout and "7 new match(es)" in imported.stdout

    clip = fixture_clip("a_trimmed.mp4")
    original = json.loads(run(ingested_store, "lookup", clip, "--json").stdout)
    shared = json.loads(run(partner, "lookup", clip, "--json").stdout)
    assert _comparable(shared) == _comparable(original) and len(original["matches"]) == 4
    assert {m["source"] for m in shared["matches"]} == {"lab-a"}
    assert {m["source"] for m in original["matches"]} == {None}
    assert "[lab-a]" in run(partner, "lookup", clip).stdout

    again = run(partner, "import", exported, "--source", "lab-a")
    assert "imported 0 video(s)" in again.stdout and "(6 already known)" in again.stdout


def test_import_refuses_bad_files_and_names(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"format": "something-else"}\n')
    result = run(tmp_path / "store", "import", bad, "--source", "x")
    assert result.exit_code == 2 and "not a vidtrace fingerprint file" in result.stderr
    assert run(tmp_path / "store", "import", bad, "--source", "../etc").exit_code == 2


def test_doctor_does_not_report_imported_uploads_as_missing_files(ingested_store, tmp_path):
    exported = tmp_path / "fingerprints.jsonl.gz"
    assert run(ingested_store, "export", exported).exit_code == 0
    partner = tmp_path / "partner-store"
    assert run(partner, "import", exported, "--source", "lab-a").exit_code == 0
    checked = run(partner, "doctor", "--json")
    assert checked.exit_code == 0, checked.stdout


def test_matching_in_batches_reads_each_stored_frame_once_and_matches_the_same(ingested_store, tmp_path, monkeypatch):
    """Import matches its videos in batches; the stored frames their hits meet are read once for
    the whole pass, however small the batches, and the matches are those of one big batch."""
    from vidtrace import match_service
    from vidtrace.store import repo

    exported = tmp_path / "fingerprints.jsonl.gz"
    assert run(ingested_store, "export", exported).exit_code == 0

    def matches(store) -> list:
        rows = db_rows(store, "SELECT a.sha256, b.sha256, m.score, m.matched_s, m.signals FROM matches m "
                              "JOIN videos a ON a.id = m.video_a_id JOIN videos b ON b.id = m.video_b_id")  # fmt: skip
        return sorted(rows)

    whole = tmp_path / "whole"
    assert run(whole, "import", exported, "--source", "lab-a").exit_code == 0
    requested: list[int] = []
    real_read = repo.frame_columns

    def frame_columns(session, ids):
        ids = list(ids)
        requested.extend(ids)
        return real_read(session, ids)

    monkeypatch.setattr(repo, "frame_columns", frame_columns)
    monkeypatch.setattr(match_service, "MATCH_BATCH_VIDEOS", 1)  # six batches
    one_by_one = tmp_path / "one-by-one"
    assert run(one_by_one, "import", exported, "--source", "lab-a").exit_code == 0
    assert requested and len(requested) == len(set(requested))
    assert matches(one_by_one) == matches(whole) and len(matches(whole)) == 7


def test_a_newer_export_of_a_source_brings_its_imported_videos_up_to_date(ingested_store, tmp_path):
    exported = tmp_path / "fingerprints.jsonl.gz"
    assert run(ingested_store, "export", exported).exit_code == 0
    partner = tmp_path / "partner-store"
    assert run(partner, "import", exported, "--source", "lab-a").exit_code == 0
    frames = "SELECT video_id, ts_s, hex(hash), region FROM frames ORDER BY video_id, ts_s, region"
    pairs = "SELECT video_a_id, video_b_id, score FROM matches ORDER BY video_a_id, video_b_id"
    before_frames, before_matches = db_rows(partner, frames), db_rows(partner, pairs)
    # As if the first import had come from an older version: one video hashed otherwise, its
    # matches found from those hashes gone.
    conn = sqlite3.connect(partner / "vidtrace.db")
    with conn:
        conn.execute("UPDATE videos SET algorithm_version = algorithm_version - 1 WHERE id = 1")
        conn.execute("UPDATE frames SET hash = zeroblob(8) WHERE video_id = 1")
        conn.execute("DELETE FROM segments WHERE match_id IN "
                     "(SELECT id FROM matches WHERE video_a_id = 1 OR video_b_id = 1)")  # fmt: skip
        conn.execute("DELETE FROM matches WHERE video_a_id = 1 OR video_b_id = 1")
    conn.close()
    assert "1 imported video(s) keep their source's hash version" in run(partner, "doctor").stdout

    again = run(partner, "import", exported, "--source", "lab-a")
    assert again.exit_code == 0, again.stderr
    assert "(5 already known, 1 imported before given this file's newer fingerprint)" in again.stdout
    assert db_rows(partner, frames) == before_frames
    # Matched again with the updated video as the query: the same pairs, each score within a
    # hash window's share of the shorter video (an edge instant may hit one way and not the other).
    after_matches = db_rows(partner, pairs)
    assert [m[:2] for m in after_matches] == [m[:2] for m in before_matches]
    assert all(abs(a[2] - b[2]) <= 0.05 for a, b in zip(after_matches, before_matches))
    assert db_rows(partner, "SELECT DISTINCT algorithm_version FROM videos") == [(HASH_VERSION,)]
    assert run(partner, "doctor").exit_code == 0


def _record(frames: list, duration_s: float) -> dict:
    return {"sha256": "ab" * 32, "duration_s": duration_s, "frames": frames}


def test_an_export_of_the_richest_fingerprint_is_imported_and_a_forged_one_is_refused():
    # A vertical video with a talking head shown small in its corner: the picture, its change in
    # every region (two centre regions), the focus change and an inset's hashes at each instant.
    pictures = shown_small(talking(2, 200, pace=0.2, detail=6), talking(12, 200, pace=0.15), top=5, left=88, side=36)
    hashes, _ = hash_frames([DecodedFrame(p, k, k / 25) for k, p in enumerate(pictures)], aspect=9 / 16)
    assert max(Counter(h.ts_s for h in hashes).values()) <= MAX_HASHES_PER_INSTANT
    duration_s = len(pictures) / 25
    assert len(hashes) > 96 * (duration_s + 1)  # over the bound this check had before the focus change
    frames = [[h.ts_s, to_hex(h.hash), h.region] for h in hashes]
    assert len(video_of(_record(frames, duration_s)).frames) == len(hashes)
    forged = frames * int(MAX_HASHES_PER_S * (duration_s + 1) / len(frames) + 1)
    with pytest.raises(BadRecord, match="frames are more than a video of 8 s can have"):
        video_of(_record(forged, duration_s))
