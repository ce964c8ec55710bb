"""Still video (podcasts, lectures, slides): memory stays bounded, whatever the length.

A video of one held picture matches its own pictures, and any stored copy of that picture, at
every instant. Matching keeps its hits in arrays, searches each distinct picture once and caps
the hits of a held picture, so a 20-minute still costs what a short clip does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import FIXTURE_VIDEOS, db_rows
from vidtrace.decode import ffmpeg_binary
from vidtrace.matching import reduce_hits
from vidtrace.settings import Settings


def _still(path: Path, seconds: int, seed: str) -> None:
    """An H.264 video of one still test picture (`seed` picks the picture)."""
    subprocess.run(
        [ffmpeg_binary(Settings()), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"cellauto=size=320x240:rate=1:rule={seed}:seed=7,trim=end_frame=1,loop=-1:1,fps=10",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip


def _ingest_in_child(store: Path, *roots: Path) -> tuple[int, float]:
    """`vidtrace ingest ROOTS` in a process of its own: (exit code, its peak resident memory in MiB)."""
    script = (
        "import resource, sys\n"
        "from vidtrace.commands.main import main\n"
        "try:\n    main()\n"
        "finally:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print(f'PEAK_KIB {peak}', file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "--store", str(store), "--quiet", "ingest", *map(str, roots)],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")]
    assert peak, proc.stderr
    return proc.returncode, int(peak[-1].split()[1]) / 1024


def test_a_long_still_video_and_its_copy_are_matched_in_bounded_memory(tmp_path):
    case = tmp_path / "case" / "lectures"
    case.mkdir(parents=True)
    _still(case / "still_20min.mp4", 1200, "30")
    _still(case / "still_5min_copy.mp4", 300, "30")  # the same picture: every instant matches every other
    store = tmp_path / "store"
    code, peak_mib = _ingest_in_child(store, tmp_path / "case")
    assert code == 0
    assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB"
    assert db_rows(store, "SELECT count(*) FROM videos WHERE status = 'ok' AND matched_at IS NOT NULL") == [(2,)]
    assert db_rows(store, "SELECT count(*) FROM frames")[0][0] > 20_000  # every picture hashed, none dropped
    # A held picture says nothing of when two videos agree: no copy is claimed between them.
    assert db_rows(store, "SELECT count(*) FROM matches") == [(0,)]
    # The store is not blocked: a following ingest of other files matches them.
    others = tmp_path / "others"
    shutil.copytree(FIXTURE_VIDEOS, others)
    code, _ = _ingest_in_child(store, others)
    assert code == 0
    assert db_rows(store, "SELECT count(*) FROM matches")[0][0] >= 5


def test_hits_of_a_held_picture_are_capped_per_stored_video():
    # Picture 0 hits 3 frames of video A; picture 1 hits 500 frames of video A (held there).
    groups = np.array([0] * 3 + [1] * 500)
    r_ts = np.concatenate([[1.0, 1.125, 1.25], np.arange(500) * 0.125])
    kept = reduce_hits(groups, r_ts, cap=64, spread=False)
    assert sorted(kept.tolist()) == [0, 1, 2]
    spread = reduce_hits(groups, r_ts, cap=64, spread=True)
    held = np.sort(r_ts[spread[spread >= 3]])
    assert 32 <= len(held) <= 64  # thinned, not dropped: a slideshow aligns on them
    assert held[0] == 0.0 and held[-1] >= 60.0  # spread over the whole stretch


def test_a_video_over_the_hit_budget_is_left_unmatched_and_doctor_says_why(tmp_path, monkeypatch):
    from tests.conftest import fixture_clip, run
    from vidtrace import matching

    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    for name in ("orig_a.mp4", "a_reencoded.mp4", "unrelated_c.mp4"):
        shutil.copy(fixture_clip(name), root / name)
    monkeypatch.setattr(matching, "MAX_KEPT_HITS", 200)  # a re-encode of orig_a has thousands of hits
    store = tmp_path / "store"
    result = run(store, "ingest", root.parent)
    assert result.exit_code == 0, result.stderr
    assert "left unmatched" in result.stderr
    left = db_rows(
        store, "SELECT count(*) FROM videos WHERE unmatched_reason LIKE '%frame hits%' AND matched_at IS NOT NULL"
    )
    assert left == [(1,)]  # stored and marked, so it never blocks later work
    doctor = run(store, "doctor")
    assert doctor.exit_code == 1
    assert "FAIL  unmatched_videos: 1 video(s) left unmatched" in doctor.stdout
    assert "a_reencoded.mp4" in doctor.stdout or "orig_a.mp4" in doctor.stdout
