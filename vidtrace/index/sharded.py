"""A frame index split into shards that are built and searched separately.

Frames go to shard `video_id % shards`: a stable rule that SQL can evaluate, so each shard can be
built on its own machine straight from the database (PostgreSQL, or a copy of the SQLite file)
and the files copied into one store folder. A shard is an ordinary `FrameIndex` file whose JSON
record also says which shard it is; its coverage is that of its own videos' frames.

Each shard is the multihash index of `vidtrace.index.frames` (multi-index hashing, its substring
bits trained on a sample of the shard's own hashes, the order recorded with the shard) once it is
large enough, else flat search. Multi-index hashing rather than FAISS `IndexBinaryIVF`,
by measurement against the earlier two-table multihash (benchmarks/index_scale.py --ivf,
60-frame queries at a 10-bit radius, 2 shared cores; four tables are faster still): IVF with 4*sqrt(n) cells probes a fixed share of the frames for a given recall, so its
search time grows with the store. At 10^6 frames it needed 512 of 4,000 cells for recall 0.999
(64 cells: 0.949), answering in 12.5 ms against multihash's 26.8 ms; at 3*10^6 the same share
took 36.6 ms against 29.3 ms, and extrapolates to about 120 ms at 10^7, where multihash takes
36 ms. IVF also keeps an 8-byte id beside every 8-byte code (2.00x the raw hash bytes before its
centroids, against 1.96x) and its k-means training took 31 to 97 s where a multihash build takes
1 to 3 s. Multihash verifies exact distances and finds every pair within 11 bits.
Because every shard carries its own training, shards built at different times need not agree
on anything but the shard count.

Searching asks every shard and concatenates the hits: shards hold disjoint frames, so each
(query row, frame) pair comes from one shard only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidtrace.index.base import SHARDED, Hit, Index, as_hits
from vidtrace.index.coverage import Coverage, combined_coverage
from vidtrace.index.frames import MULTIHASH_FROM_FRAMES, FrameIndex, read_record
from vidtrace.layout import shard_counts, shard_path

#: Largest shard count accepted (files in one folder).
MAX_SHARDS = 4096


def shard_of(video_ids: np.ndarray, shards: int) -> np.ndarray:
    """The shard of each video id (the same rule as `video_id % shards` in SQL)."""
    return np.asarray(video_ids, dtype=np.int64) % shards


def load_shard(
    path: Path, shard: int, shards: int, multihash_from: int | None = MULTIHASH_FROM_FRAMES
) -> tuple[FrameIndex, Coverage] | None:
    """One saved shard and its coverage, or None when missing, unreadable or not that shard."""
    file = shard_path(path, shard, shards)
    record = read_record(file)
    if record is None or record.get("shard") != shard or record.get("shards") != shards:
        return None  # a file renamed or copied under another shard's name
    return FrameIndex.load(file, multihash_from)


def load_sharded(
    path: Path, multihash_from: int | None = MULTIHASH_FROM_FRAMES
) -> tuple[ShardedIndex, Coverage] | None:
    """Every shard beside `path` as one index, or None when the shard files are incomplete,
    unreadable, of more than one shard count or of different hash algorithms."""
    counts = shard_counts(path)
    if len(counts) != 1:
        return None
    shards = counts.pop()
    loaded = [item for k in range(shards) if (item := load_shard(path, k, shards, multihash_from)) is not None]
    if len(loaded) != shards:
        return None
    coverages = [c for _, c in loaded]
    if len({c.algorithm for c in coverages}) != 1:
        return None
    return ShardedIndex([i for i, _ in loaded], coverages), combined_coverage(coverages)


class ShardedIndex:
    """Several `FrameIndex` shards searched as one; satisfies `vidtrace.index.Index` as `FrameIndex` does.

    Frames added after loading (an ingest in progress) do not say which video they belong to,
    so they wait in an exact flat index searched with the shards; saving the index files again
    goes through SQL (`vidtrace.index.sync`), which puts each frame in its shard.
    """

    kind = SHARDED

    def __init__(self, shards: list[FrameIndex], coverages: list[Coverage]):
        if not shards or len(shards) != len(coverages):
            raise ValueError("a sharded index needs one coverage per shard, and at least one shard")
        self.shards = list(shards)
        self.coverages = list(coverages)
        self.nbits = shards[0].nbits
        self.pending = FrameIndex(nbits=self.nbits, multihash_from=None)

    @property
    def n_shards(self) -> int:
        return len(self.shards)

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards) + len(self.pending)

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        self.pending.add(ids, codes)

    def ids(self) -> np.ndarray:
        return np.concatenate([s.ids() for s in self.shards] + [self.pending.ids()])

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.shards) + self.pending.nbytes()

    def coverage(self, algorithm: str, version: int) -> Coverage:
        parts = [s.contents() for s in [*self.shards, self.pending]]
        return Coverage.of_contents(
            algorithm, version, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        )

    def search_arrays(self, codes: np.ndarray, max_distance_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, frame ids, distances) from every shard, as `FrameIndex.search_arrays`."""
        parts = [s.search_arrays(codes, max_distance_bits) for s in [*self.shards, self.pending]]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]

    def search(self, codes: np.ndarray, max_distance_bits: int) -> list[Hit]:
        return as_hits(*self.search_arrays(codes, max_distance_bits))


def load_index(path: Path, multihash_from: int | None = MULTIHASH_FROM_FRAMES) -> tuple[Index, Coverage] | None:
    """The index saved at `path` (a store's `frames.faiss`): its shards when shard files lie
    beside it (they are then the index), else the one file; None when missing or unreadable."""
    if shard_counts(path):
        return load_sharded(path, multihash_from)
    return FrameIndex.load(path, multihash_from)
