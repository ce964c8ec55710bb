"""Interrupted ingests keep their finished work: Ctrl-C (SIGINT to the whole process group) and
SIGTERM commit every finished video before exiting 130, and the next run says what was kept and
fingerprints only the rest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_VIDEOS, ROOT, run

#: How long the test waits for the ingest to commit its first videos (a generous bound, not a
#: measured figure: nothing is asserted about time).
WAIT_LIMIT_S = 120


#: Copies of each fixture clip in the collection: enough that an idle 2-core machine does not
#: fingerprint them all before the first commit (every `COMMIT_EVERY_S`), which would leave
#: nothing to interrupt (with one copy each, 12 files, it did).
COPIES = 5


def _collection(folder: Path) -> int:
    """Distinct files: the six fixture clips, and each again `COPIES` times with bytes appended
    (another SHA-256, the same pictures)."""
    shutil.copytree(FIXTURE_VIDEOS, folder)
    for clip in sorted(folder.rglob("*.mp4")):
        for n in range(1, COPIES + 1):
            copy = clip.with_name(f"{clip.stem}_copy{n}.mp4")
            copy.write_bytes(clip.read_bytes() + b"\0" * (64 * n))
    return len(list(folder.rglob("*.mp4")))


def _stored_videos(store: Path) -> int:
    if not (store / "vidtrace.db").exists():
        return 0
    conn = sqlite3.connect(f"file:{store / 'vidtrace.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM videos").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    "signum, to_group, workers",
    [(signal.SIGINT, True, 1), (signal.SIGTERM, False, 2), (signal.SIGKILL, True, 1)],
    ids=["ctrl-c-to-the-process-group", "sigterm-with-workers", "sigkill"],
)
def test_an_interrupted_ingest_keeps_its_finished_videos_and_the_rerun_does_the_rest(
    tmp_path, signum, to_group, workers
):
    folder, store = tmp_path / "videos", tmp_path / "store"
    total = _collection(folder)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "--store", str(store), "ingest", str(folder), "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT_LIMIT_S
        while _stored_videos(store) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = _stored_videos(store)
        if to_group:
            os.killpg(proc.pid, signum)  # what Ctrl-C in a terminal does
        else:
            proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=WAIT_LIMIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert seen >= 1, "no video was committed while the ingest ran"
    killed = signum == signal.SIGKILL
    if killed:  # no chance to commit more: what was committed every COMMIT_EVERY_S is what stays
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, (proc.returncode, stderr)
        assert "Interrupted." in stderr and "Traceback" not in stderr
    kept = _stored_videos(store)
    assert seen <= kept < total
    status = "running" if killed else "interrupted"
    assert sqlite3.connect(store / "vidtrace.db").execute("SELECT status FROM scans").fetchall() == [(status,)]

    again = run(store, "ingest", folder, "--json")
    assert again.exit_code == 0, again.stderr
    document = json.loads(again.stdout)
    how = "stopped without finishing" if killed else "was interrupted"
    assert document["resumed"] == f"the ingest before (scan 1) {how}: kept {kept} of {total} new video(s), resuming"
    assert document["counts"]["new_videos"] == total - kept  # only the rest fingerprinted
    assert _stored_videos(store) == total
    assert not document["failures"]
    table = run(store, "ingest", folder)
    assert "resuming" not in table.stdout  # the run before this one finished
