"""Shared helpers: running the real command against a temporary store, and the fixture clips."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

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


def run(store: Path, *args: str) -> Result:
    """Run `vidtrace --store STORE ARGS...` in-process; returns exit code, stdout and stderr."""
    result = CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], catch_exceptions=False)
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


def fixture_clip(name: str) -> Path:
    """The first fixture clip called `name` (any account folder)."""
    found = sorted(FIXTURE_VIDEOS.rglob(name))
    assert found, f"fixture {name} missing: run python fixtures/generate.py"
    return found[0]


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
