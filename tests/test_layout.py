"""The store folder's layout and atomic writes; the index's one interface and its FAISS module."""

from __future__ import annotations

import numpy as np
import pytest

import vidtrace.index.faiss_binary
from vidtrace import layout
from vidtrace.errors import DependencyError
from vidtrace.index import FrameIndex, Index, ShardedIndex
from vidtrace.store.db import StoreLocation


def test_every_store_path_comes_from_the_layout(tmp_path):
    location = StoreLocation.resolve(tmp_path / "store")
    assert location.db_url == f"sqlite:///{tmp_path / 'store' / 'vidtrace.db'}"
    assert location.index_path == tmp_path / "store" / "frames.faiss"
    assert location.sound_index_path == tmp_path / "store" / "sounds.faiss"
    assert location.lock_path == tmp_path / "store" / "writer.lock"
    assert layout.record_path(location.index_path).name == "frames.faiss.json"
    assert layout.shard_path(location.index_path, 2, 4).name == "frames.shard-2-of-4.faiss"


def test_shard_files_are_found_by_their_records(tmp_path):
    path = tmp_path / "frames.faiss"
    for k in range(3):
        layout.record_path(layout.shard_path(path, k, 3)).write_text("{}")
    (tmp_path / "frames.shard-x-of-3.faiss.json").write_text("{}")  # not a shard name
    (tmp_path / "other.shard-0-of-2.faiss.json").write_text("{}")  # another index's shard
    assert set(layout.shard_files(path)) == {(0, 3), (1, 3), (2, 3)}
    assert layout.shard_counts(path) == {3}
    assert layout.shard_counts(tmp_path / "missing" / "frames.faiss") == set()


def test_an_atomic_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "record.json"
    layout.atomic_write(target, "old")
    layout.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError):
        with layout.atomic_file(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_flat_multihash_and_sharded_indexes_share_one_interface():
    rng = np.random.default_rng(0)
    ids = np.arange(1, 201, dtype=np.int64)
    codes = rng.integers(0, 256, size=(200, 8), dtype=np.uint8)
    flat = FrameIndex.build(ids, codes, kind="flat")
    multihash = FrameIndex.build(ids, codes, kind="multihash")
    halves = [FrameIndex.build(ids[:100], codes[:100]), FrameIndex.build(ids[100:], codes[100:])]
    sharded = ShardedIndex(halves, [h.coverage("a", 1) for h in halves])
    for index in (flat, multihash, sharded):
        assert isinstance(index, Index)
        assert len(index) == 200 and sorted(index.ids().tolist()) == ids.tolist()
        assert index.coverage("a", 1) == flat.coverage("a", 1)
        rows, found, _ = index.search_arrays(codes[:5], 0)
        assert sorted(zip(rows.tolist(), found.tolist())) == [(k, k + 1) for k in range(5)]
    assert [i.kind for i in (flat, multihash, sharded)] == ["flat", "multihash", "sharded"]


def test_without_faiss_an_index_raises_a_dependency_error(monkeypatch):
    monkeypatch.setattr(vidtrace.index.faiss_binary, "faiss", None)
    with pytest.raises(DependencyError, match="FAISS is not installed"):
        FrameIndex()
