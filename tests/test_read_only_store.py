"""Commands that only read open the store read-only: they work on a read-only mount and while a
writer is busy (and say so), and never write the database or the index files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import fixture_clip, run
from vidtrace.store.db import StoreLocation, writer_lock

READERS = [
    ("matches", "--json"),
    ("clusters", "--json"),
    ("coordination", "--json"),
]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def store_copy(ingested_store, tmp_path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(ingested_store, copy)
    return copy


@pytest.fixture
def read_only_mount(store_copy, tmp_path):
    """The store folder bind-mounted read-only (needs the right to mount: skipped without it)."""
    target = tmp_path / "evidence"
    target.mkdir()
    if subprocess.run(["mount", "--bind", str(store_copy), str(target)], capture_output=True).returncode != 0:
        pytest.skip("mounting is not permitted here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], capture_output=True).returncode != 0:
            pytest.skip("read-only remounting is not permitted here")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_every_reading_command_works_on_a_read_only_mount(read_only_mount, store_copy, tmp_path):
    before = _digests(store_copy)
    expected = {args: run(store_copy, *args).stdout for args in READERS}
    for args in READERS:
        result = run(read_only_mount, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stdout == expected[args]
    assert len(json.loads(expected[("matches", "--json")])["matches"]) == 7
    clip = fixture_clip("a_trimmed.mp4")
    found = run(read_only_mount, "lookup", clip, "--json")
    assert found.exit_code == 0, found.stderr
    assert len(json.loads(found.stdout)["matches"]) == 4
    report = run(read_only_mount, "report", "--html", tmp_path / "case.html")
    assert report.exit_code == 0, report.stderr
    assert "1 group(s)" in report.stdout
    exported = run(read_only_mount, "export", tmp_path / "case.jsonl.gz")
    assert exported.exit_code == 0 and "exported 6 video fingerprint(s)" in exported.stdout
    assert run(read_only_mount, "db", "current").stdout.startswith("current: ")
    after = _digests(store_copy)
    assert {k: v for k, v in after.items() if k in before} == before


def test_writing_to_a_read_only_place_is_a_one_line_error(read_only_mount):
    clip_folder = fixture_clip("orig_a.mp4").parent
    for store in (read_only_mount, read_only_mount / "new-store"):
        result = run(store, "ingest", clip_folder)
        assert result.exit_code == 3, result.stderr
        assert result.stderr.startswith("Error: cannot ") and "read-only file system" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_an_unusable_new_store_path_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's parent folder should be")
    result = run(blocker / "store", "ingest", fixture_clip("orig_a.mp4").parent)
    assert result.exit_code == 3
    assert result.stderr.strip() == f"Error: cannot create the store {blocker / 'store'}: not a directory"


def test_reading_commands_never_write_the_database_or_the_index(store_copy):
    # A store whose index file went missing: a lookup rebuilds it in memory, not on disk.
    for name in ("frames.faiss", "frames.faiss.json"):
        (store_copy / name).unlink()
    before = _digests(store_copy)
    found = run(store_copy, "lookup", fixture_clip("a_trimmed.mp4"), "--json")
    assert found.exit_code == 0, found.stderr
    assert len(json.loads(found.stdout)["matches"]) == 4
    for args in READERS:
        assert run(store_copy, *args).exit_code == 0
    after = _digests(store_copy)
    assert not (store_copy / "frames.faiss").exists()
    assert {k: v for k, v in after.items() if k in before} == before


def test_readers_say_when_a_writer_is_busy_with_the_store(store_copy):
    quiet = run(store_copy, "matches")
    assert quiet.exit_code == 0 and "is writing to this store" not in quiet.stderr
    with writer_lock(StoreLocation.resolve(store_copy)):
        for args in [("matches",), ("lookup", fixture_clip("unrelated_c.mp4")), ("coordination",)]:
            result = run(store_copy, *args)
            assert result.exit_code == 0, result.stderr
            assert "note: an ingest or rescan (pid " in result.stderr
            assert "is writing to this store" in result.stderr
