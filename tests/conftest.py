"""Shared helpers: running the real command against a temporary store, and the fixture clips."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest
from click.testing import CliRunner

from vidtrace.commands.main import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
FIXTURE_VIDEOS = FIXTURES / "videos"
MANIFEST = FIXTURES / "manifest.csv"
SHARED_VIDEOS = ROOT.parent / "shared" / "videos"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(store: Path, *args: str, db_url: str | None = None) -> Result:
    """Run `vidtrace --store STORE [--db URL] ARGS...` in-process; returns exit code, stdout and stderr."""
    db = ["--db", db_url] if db_url else []
    result = CliRunner().invoke(cli, ["--store", str(store), *db, *map(str, args)], catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def db_dump(store: Path) -> list[str]:
    """Every row of the store's SQLite database, as SQL text (for before/after comparisons)."""
    conn = sqlite3.connect(store / "vidtrace.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def db_rows(store: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(store / "vidtrace.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def crop_copy(source: Path, out: Path, share: float, flip: bool = False) -> None:
    """A re-poster's crop of `source` at `out`: `share` off every side, kept at the smaller size,
    without sound; flipped left to right first with `flip`."""
    keep = 1 - 2 * share
    graph = ("hflip," if flip else "") + f"crop=trunc(iw*{keep:.2f}/2)*2:trunc(ih*{keep:.2f}/2)*2"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-vf", graph, "-an",
                    "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True)  # fmt: skip


def fixture_clip(name: str) -> Path:
    """The first fixture clip called `name` (any account folder)."""
    found = sorted(FIXTURE_VIDEOS.rglob(name))
    assert found, f"fixture {name} missing: run python fixtures/generate.py"
    return found[0]


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database (needs VIDTRACE_TEST_PG_URL: `.ci/postgres.sh` starts a server)."""
    admin_url = os.environ.get("VIDTRACE_TEST_PG_URL")
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("VIDTRACE_TEST_PG_URL is not set (.ci/run starts PostgreSQL)")
        pytest.skip("no PostgreSQL server (set VIDTRACE_TEST_PG_URL, see .ci/postgres.sh)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"vidtrace_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def video_tree(tmp_path: Path) -> Path:
    """A writable copy of the fixture clips, laid out as ROOT/<account>/<file>."""
    root = tmp_path / "videos"
    shutil.copytree(FIXTURE_VIDEOS, root)
    return root


@pytest.fixture(scope="session")
def ingested_store(tmp_path_factory) -> Path:
    """A store holding the fixtures ingested through their manifest (shared; do not modify)."""
    store = tmp_path_factory.mktemp("ingested") / "store"
    result = run(store, "ingest", "--manifest", MANIFEST)
    assert result.exit_code == 0, result.stderr
    return store
