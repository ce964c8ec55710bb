"""A lookup never writes index files: a stale or missing index is built in memory, the files stay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vidtrace
from conftest import fixture_clip, run
from vidtrace import layout
from vidtrace.index import FrameIndex, sync
from vidtrace.index.sounds import SoundIndex
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION
from vidtrace.store.db import Store, StoreLocation


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: its contents and modification time (ns)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


@pytest.fixture
def stale_store(ingested_store, tmp_path) -> Path:
    """A copy of the store whose frame and sound index files hold less than the database."""
    store = tmp_path / "store"
    shutil.copytree(ingested_store, store)
    frames, _ = FrameIndex.load(layout.index_path(store))
    ids, codes = frames.contents()
    half = FrameIndex.build(ids[: len(ids) // 2], codes[: len(ids) // 2])
    half.save(layout.index_path(store), half.coverage(HASH_ALGORITHM, HASH_VERSION))
    SoundIndex().save(layout.sound_index_path(store))
    return store


def test_a_lookup_leaves_every_file_of_the_store_folder_as_it_was(stale_store, ingested_store):
    clip = fixture_clip("a_trimmed.mp4")
    expected = run(ingested_store, "lookup", clip, "--json")
    before = _files(stale_store)
    found = run(stale_store, "lookup", clip, "--json")
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["matches"] == json.loads(expected.stdout)["matches"]
    after = _files(stale_store)
    # Any reader of an SQLite database in WAL mode (re)writes its shared-memory file `-shm`; that
    # is SQLite's, not the store's. Every other file is as it was, and a write-ahead log, if one
    # appears, is empty.
    shm, wal = layout.DB_FILENAME + "-shm", layout.DB_FILENAME + "-wal"
    assert {k: after.get(k) for k in before if k != shm} == {k: v for k, v in before.items() if k != shm}
    assert set(after) - set(before) <= {shm, wal}
    assert after.get(wal, (b"", 0))[0] == before.get(wal, (b"", 0))[0]


def test_a_lookup_through_the_library_on_a_writable_store_writes_no_index_file(stale_store):
    before = {k: v for k, v in _files(stale_store).items() if k.startswith(("frames", "sounds", "."))}
    assert set(before) == {layout.INDEX_FILENAME, layout.SOUND_INDEX_FILENAME} | {
        str(layout.record_path(Path(n))) for n in (layout.INDEX_FILENAME, layout.SOUND_INDEX_FILENAME)
    }
    with vidtrace.open_store(stale_store) as case:
        assert not case.store.read_only
        result = case.lookup(fixture_clip("a_trimmed.mp4"))
    assert len(result.matches) == 4
    after = {k: v for k, v in _files(stale_store).items() if k.startswith(("frames", "sounds", "."))}
    assert after == before


def test_an_index_recorded_by_an_older_hash_version_is_kept_when_it_holds_the_databases_frames(
    ingested_store, tmp_path, monkeypatch
):
    # After an upgrade, the store's videos keep their hashes until they are fingerprinted again,
    # and so does the index: its frames are SQL's (the digest says so), only its record is older.
    store = tmp_path / "store"
    shutil.copytree(ingested_store, store)
    path = layout.index_path(store)
    frames, _ = FrameIndex.load(path)
    frames.save(path, frames.coverage(HASH_ALGORITHM, HASH_VERSION - 1))
    expected = run(ingested_store, "lookup", fixture_clip("a_trimmed.mp4"), "--json")

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the index was rebuilt from the database")

    monkeypatch.setattr(sync, "_build", no_rebuild)
    looked = run(store, "lookup", fixture_clip("a_trimmed.mp4"), "--json")
    assert looked.exit_code == 0, looked.stderr
    assert json.loads(looked.stdout) == json.loads(expected.stdout)
    assert FrameIndex.load(path)[1].version == HASH_VERSION - 1  # a lookup writes nothing
    doctor = run(store, "doctor", "--json")
    assert doctor.exit_code == 0, doctor.stdout
    writing = Store.open(StoreLocation.resolve(store), create=False)
    try:
        sync.synced_index(writing)  # as ingest, rescan and import open it
    finally:
        writing.close()
    assert FrameIndex.load(path)[1].version == HASH_VERSION  # recorded again, with this version
