"""What every frame index offers (`Index`), whatever its kind: flat, multihash or sharded.

Ids in an index are the SQL frame ids; hashes go in and out as (n, bytes) uint8 rows. A search
returns every indexed frame within a distance of each query row, as three parallel arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from vidtrace.index.coverage import Coverage

FLAT = "flat"
MULTIHASH = "multihash"
SHARDED = "sharded"


@dataclass(frozen=True)
class Hit:
    query_row: int
    frame_id: int
    distance_bits: int


@runtime_checkable
class Index(Protocol):
    """A Hamming index of frame hashes addressed by frame id (`FrameIndex`, `ShardedIndex`)."""

    #: hash length in bits
    nbits: int

    @property
    def kind(self) -> str:
        """FLAT, MULTIHASH or SHARDED."""
        ...

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Index frames `ids` with hashes `codes` ((n, bytes) uint8)."""

    def ids(self) -> np.ndarray:
        """The frame ids indexed (int64)."""
        ...

    def nbytes(self) -> int:
        """Bytes held by the index structures."""
        ...

    def coverage(self, algorithm: str, version: int) -> Coverage:
        """What the index holds, comparable with SQL's aggregates."""
        ...

    def search_arrays(self, codes: np.ndarray, max_distance_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, frame ids, distances) of every hit within `max_distance_bits` (inclusive)."""
        ...

    def search(self, codes: np.ndarray, max_distance_bits: int) -> list[Hit]:
        """The same hits as `search_arrays`, one `Hit` each."""
        ...


def empty_hits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, empty


def as_hits(rows: np.ndarray, ids: np.ndarray, dists: np.ndarray) -> list[Hit]:
    """`search_arrays`' answer as a list of `Hit`."""
    return [Hit(query_row=int(r), frame_id=int(i), distance_bits=int(d)) for r, i, d in zip(rows, ids, dists)]
