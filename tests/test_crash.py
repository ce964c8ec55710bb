"""Crash safety: `ingest` and `rescan` killed with SIGKILL at many points, then run again.

After every kill the store must hold no half-stored video (frames without a finished video,
matches or uploads pointing at missing rows); after the run that follows, the FAISS index must
cover exactly the stored frames, and every row must equal those of an uninterrupted run.

The commands run in real processes that are killed with SIGKILL, like a power cut. To keep the
test fast they are forked from one helper process that has already imported vidtrace (importing
costs more than the work itself); each run is `vidtrace.commands.main.main` in a fresh process.
Kill points are random time offsets (fixed seed) spread over an uninterrupted run's duration.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, fixture_clip
from vidtrace.index import FrameIndex
from vidtrace.store.db import INDEX_FILENAME

SEED = int(os.environ.get("CRASH_SEED", "20260301"))
CHAINS = 3  # per command
KILLS_PER_CHAIN = 4  # then one run to the end

SERVER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from vidtrace.commands.main import cli
for line in sys.stdin:
    args, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        code = 0
        try:
            cli.main(args=args, prog_name="vidtrace")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    sys.stdin.readline()  # reaped only when told, so the pid cannot be reused while killed
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Runner:
    """Starts `vidtrace ARGS` in a fresh process and optionally SIGKILLs it after a delay."""

    def __init__(self, log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(ROOT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, args: list[str], kill_after_s: float | None = None) -> tuple[int, float]:
        """(exit code or -9 when killed, seconds it ran)."""
        started = time.monotonic()
        self.proc.stdin.write(json.dumps([args, str(self.log)]) + "\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        if kill_after_s is not None:
            time.sleep(kill_after_s)
            os.kill(pid, signal.SIGKILL)  # a zombie at worst: not reaped yet
        self.proc.stdin.write("reap\n")
        self.proc.stdin.flush()
        code = int(self.proc.stdout.readline())
        return code, time.monotonic() - started

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    r = Runner(tmp_path_factory.mktemp("crash-log") / "stderr.txt")
    yield r
    r.close()


def _copy(names: list[str], root: Path, account: str) -> None:
    (root / account).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(fixture_clip(name), root / account / name)


def consistency_problems(store: Path) -> list[str]:
    """What makes a store half-written; empty when it is consistent."""
    if not (store / "vidtrace.db").exists():
        return []
    conn = sqlite3.connect(store / "vidtrace.db")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            return [] if not tables else [f"tables without a migration record: {sorted(tables)}"]
        checks = {
            "broken references": "SELECT count(*) FROM pragma_foreign_key_check",
            "frames of an unfinished or failed video": "SELECT count(*) FROM frames f LEFT JOIN videos v ON v.id = f.video_id WHERE v.id IS NULL OR v.status != 'ok'",
            "finished video without frames": "SELECT count(*) FROM videos v WHERE v.status = 'ok' AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.video_id = v.id)",
            "video without upload": "SELECT count(*) FROM videos v WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.video_id = v.id)",
            "match at a missing or failed video": "SELECT count(*) FROM matches m WHERE (SELECT count(*) FROM videos v WHERE v.id IN (m.video_a_id, m.video_b_id) AND v.status = 'ok') != 2",
            "match without segments": "SELECT count(*) FROM matches m WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.match_id = m.id)",
            "segment of a missing match": "SELECT count(*) FROM segments s WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.id = s.match_id)",
            "match of a video not marked matched": "SELECT count(*) FROM matches m JOIN videos v ON v.id = max(m.video_a_id, m.video_b_id) WHERE v.matched_at IS NULL",
        }
        return [f"{name}: {n}" for name, sql in checks.items() if (n := conn.execute(sql).fetchone()[0])]
    finally:
        conn.close()


def snapshot(store: Path) -> dict[str, list]:
    """Every row that matters, keyed by content (not by ids, which a resumed run may number differently)."""
    conn = sqlite3.connect(store / "vidtrace.db")
    try:
        q = lambda sql: sorted(conn.execute(sql).fetchall(), key=repr)  # noqa: E731
        return {
            "videos": q("SELECT sha256, status, error, duration_s, sampled_frames, matched_at IS NOT NULL FROM videos"),
            "uploads": q(
                "SELECT v.sha256, u.path, a.handle, u.uploaded_at, u.uploaded_at_source, u.gone_at IS NOT NULL "
                "FROM uploads u JOIN videos v ON v.id = u.video_id LEFT JOIN accounts a ON a.id = u.account_id"
            ),
            "accounts": q("SELECT platform, handle FROM accounts"),
            "frames": q(
                "SELECT v.sha256, f.ts_s, hex(f.hash), f.quality FROM frames f JOIN videos v ON v.id = f.video_id"
            ),
            "matches": q(
                "SELECT va.sha256, vb.sha256, round(m.score, 9), m.matched_s, "
                "(SELECT group_concat(s.a_start_s || ':' || s.a_end_s || '=' || s.b_start_s || ':' || s.b_end_s, ',') "
                " FROM (SELECT * FROM segments WHERE match_id = m.id ORDER BY a_start_s) s) "
                "FROM matches m JOIN videos va ON va.id = m.video_a_id JOIN videos vb ON vb.id = m.video_b_id"
            ),
        }
    finally:
        conn.close()


def index_matches_sql(store: Path) -> None:
    loaded = FrameIndex.load(store / INDEX_FILENAME)
    assert loaded is not None, "index file missing or unreadable after a completed run"
    index, _ = loaded
    conn = sqlite3.connect(store / "vidtrace.db")
    try:
        sql_ids = sorted(r[0] for r in conn.execute("SELECT id FROM frames"))
    finally:
        conn.close()
    index_ids = sorted(index.ids().tolist())
    assert index_ids == sql_ids


def run_chains(
    runner: Runner, tmp_path: Path, name: str, prepare, args: list[str], rng: random.Random
) -> tuple[int, int, int]:
    """Kill `args` at spread-out offsets, resume, compare with an uninterrupted run.

    Returns (kill points, kills that interrupted a scan, rows compared).
    """
    reference = tmp_path / f"{name}-reference"
    prepare(reference)
    code, full_s = runner.run(["--store", str(reference), "--quiet", *args])
    assert code == 0
    expected = snapshot(reference)
    index_matches_sql(reference)

    kills = interrupted = rows = 0
    for chain in range(CHAINS):
        store = tmp_path / f"{name}-{chain}"
        prepare(store)
        for _ in range(KILLS_PER_CHAIN):
            offset = rng.uniform(0.05, full_s)
            code, _ = runner.run(["--store", str(store), "--quiet", *args], kill_after_s=offset)
            kills += 1
            problems = consistency_problems(store)
            assert problems == [], (name, chain, offset, problems)
            if code == -signal.SIGKILL and _left_running(store):
                interrupted += 1
        code, _ = runner.run(["--store", str(store), "--quiet", *args])
        assert code == 0, (name, chain, runner.log.read_text()[-3000:])
        assert consistency_problems(store) == []
        index_matches_sql(store)
        got = snapshot(store)
        for table, want in expected.items():
            assert got[table] == want, (name, chain, table)
            rows += len(want)
    return kills, interrupted, rows


def _left_running(store: Path) -> bool:
    try:
        conn = sqlite3.connect(store / "vidtrace.db")
        try:
            return bool(conn.execute("SELECT count(*) FROM scans WHERE status = 'running'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return False


FIXED_NS = 1_700_000_000_000_000_000


def test_ingest_and_rescan_survive_sigkill_anywhere(runner, tmp_path, capsys):
    rng = random.Random(SEED)
    # ingest: four clips (three matches) into an empty store
    ingest_tree = tmp_path / "ingest-videos"
    _copy(["orig_a.mp4", "unrelated_c.mp4", "a_trimmed.mp4", "compilation.mp4"], ingest_tree, "alice")
    # rescan: a stored folder that since gained three files, lost one and had one renamed
    rescan_tree = tmp_path / "rescan-videos"
    _copy(["orig_a.mp4", "unrelated_c.mp4"], rescan_tree, "alice")
    shutil.copy(fixture_clip("a_reencoded.mp4"), rescan_tree / "alice" / "soon_gone.mp4")
    base = tmp_path / "rescan-base"
    assert runner.run(["--store", str(base), "--quiet", "ingest", str(rescan_tree)])[0] == 0
    _copy(["a_trimmed.mp4", "compilation.mp4", "orig_b.mp4"], rescan_tree, "bob")
    (rescan_tree / "alice" / "soon_gone.mp4").unlink()
    (rescan_tree / "alice" / "orig_a.mp4").rename(rescan_tree / "alice" / "renamed.mp4")

    def empty(store: Path) -> None:
        pass

    def copy_of_base(store: Path) -> None:
        shutil.copytree(base, store)

    totals = [0, 0, 0]
    for name, prepare, args in (
        ("ingest", empty, ["ingest", str(ingest_tree)]),
        ("rescan", copy_of_base, ["rescan"]),
    ):
        result = run_chains(runner, tmp_path, name, prepare, args, rng)
        totals = [t + v for t, v in zip(totals, result)]
    with capsys.disabled():
        print(
            f"\ncrash safety: {totals[0]} SIGKILL points survived ({totals[1]} interrupted a running scan), "
            f"{totals[2]} rows compared with uninterrupted runs: none lost, none duplicated",
            file=sys.stderr,
        )
    assert totals[0] >= 20
