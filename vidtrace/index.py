"""The FAISS binary index of frame hashes. The one place that knows FAISS's quirks.

Ids in the index are the SQL frame ids. SQL is the source of truth: the index file is derived,
saved beside the database with a small JSON record of what it covers, and rebuilt when that
record does not agree with SQL.

Two kinds of index, chosen by store size (`APPROXIMATE_FROM_FRAMES`):

- `flat`: exact Hamming search (FAISS `IndexBinaryFlat`), every query row against every frame.
- `multihash`: multi-index hashing for 64-bit hashes. Two tables, each keyed by a disjoint
  substring of the hash (`key_bits` bits each); a query probes every key within
  `MULTIHASH_PROBE_BITS` of its own substring in both tables and verifies the candidates' full
  Hamming distance, so every hit it returns is exact and it misses only pairs whose two
  substrings both differ by more than the probe radius. Which bits make the substrings is
  trained on a sample of the indexed hashes (`train_bit_order`) and saved with the index.
  Frames added after a build wait in a small exact tail until the tables are rebuilt.

Quirk handled here: `range_search` on binary indexes returns distances strictly below the
radius, so a search for "at most d bits" asks for radius d + 1.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from vidtrace.errors import DependencyError
from vidtrace.results.records import Coverage

log = logging.getLogger(__name__)

INDEX_FORMAT = 3  # 2: packed ids and positions, trained bit order; 3: a digest of ids and hashes
FLAT = "flat"
MULTIHASH = "multihash"

#: Stores with at least this many frames switch from exact flat search to multi-index hashing
#: (frames). Below it a flat scan of a 60-frame query takes a few milliseconds anyway; above it
#: flat search time grows with the store (see benchmarks/index_scale.py).
APPROXIMATE_FROM_FRAMES = 500_000
#: A multihash index that shrinks below this share of the threshold goes back to flat.
FLAT_BELOW_SHARE = 0.5
#: Multi-index hashing probes every key within this many bits of the query's substring. With two
#: 21-bit substrings a pair at 10 bits apart is found unless both substrings differ by 4 or more.
MULTIHASH_PROBE_BITS = 3
#: The two bucket tables (one uint32 offset per key) may take at most this share of the raw hash
#: bytes: it sets the substring length to floor(log2(share * frames)) bits, so a bucket holds 4 to
#: 8 frames. Longer keys verify fewer candidates but cost memory; this keeps the whole index
#: below 2x the raw bytes (8 for codes, 3 + 3 for packed ids and positions, under 0.25 for tables).
MULTIHASH_TABLE_SHARE = 0.25
MULTIHASH_MIN_KEY_BITS, MULTIHASH_MAX_KEY_BITS = 12, 22
#: Hashes sampled (evenly, in frame-id order) to choose which bits form the substrings (frames).
#: Enough to estimate bucket collisions down to about 2**-22; training takes well under a second.
MULTIHASH_TRAIN_SAMPLE = 32_768
#: Frames added after a build are searched exactly until they reach this share of the indexed
#: frames (or at least `MULTIHASH_MIN_TAIL` frames); then the tables are rebuilt.
MULTIHASH_TAIL_SHARE = 0.1
MULTIHASH_MIN_TAIL = 65_536


# splitmix64's constants: a cheap mix in which every input bit changes about half the output bits.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def frame_digest(ids: np.ndarray, codes: np.ndarray) -> int:
    """Sum (mod 2**64) over frames of mix(id, hash): the same set of (id, hash) pairs gives the
    same digest in any order; a hash moved to another id changes it. `codes` are (n, bytes) uint8
    rows, hashed as big-endian 64-bit words (zero-padded)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return 0
    codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(len(ids), -1)
    if codes.shape[1] % 8:
        codes = np.pad(codes, ((0, 0), (0, 8 - codes.shape[1] % 8)))
    words = codes.view(">u8").astype(np.uint64)
    x = ids.astype(np.uint64) * _GOLDEN
    for k in range(words.shape[1]):
        x = _mix64(x ^ words[:, k])
    return int(np.sum(x, dtype=np.uint64))


def add_digests(*digests: int) -> int:
    """The digest of the union of disjoint sets of frames."""
    return sum(digests) % (1 << 64)


@dataclass(frozen=True)
class Hit:
    query_row: int
    frame_id: int
    distance_bits: int


def _as_u64(codes: np.ndarray) -> np.ndarray:
    """(n, 8) uint8 rows (most significant byte first) to n big-endian-valued uint64."""
    return (
        np.ascontiguousarray(codes, dtype=np.uint8)
        .view(">u8")
        .ravel()
        .astype(np.uint64)
    )


def _as_rows(values: np.ndarray) -> np.ndarray:
    return (
        np.ascontiguousarray(values.astype(">u8"))
        .view(np.uint8)
        .reshape(len(values), 8)
    )


@functools.cache
def _probe_masks(key_bits: int, radius: int) -> np.ndarray:
    """Every key_bits-bit value with at most `radius` bits set."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [
            sum(1 << b for b in combo)
            for combo in itertools.combinations(range(key_bits), r)
        ]
    return np.array(masks, dtype=np.int64)


def _starts(keys: np.ndarray, size: int) -> np.ndarray:
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=size), out=starts[1:])
    return starts.astype(np.uint32) if starts[-1] < 2**32 else starts


def _expand(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenation of the ranges [lo, lo + count)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(lo.astype(np.int64) - (ends - counts), counts) + np.arange(total)


def _pack(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integers as a uint16 low part and the narrowest unsigned high part.

    Frame positions and id offsets below 2**24 then cost 3 bytes instead of 4 (uint32) or 8:
    at 10^7 frames that is what keeps the index under twice the raw hash bytes.
    """
    values = np.asarray(values, dtype=np.int64)
    high = values >> 16
    top = int(high.max()) if len(high) else 0
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max)
    return (values & 0xFFFF).astype(np.uint16), high.astype(dtype)


def _unpack(lo: np.ndarray, hi: np.ndarray, at=slice(None)) -> np.ndarray:
    """The int64 values at `at` of a `_pack`ed array."""
    return lo[at].astype(np.int64) | (hi[at].astype(np.int64) << 16)


def _permute_bits(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """uint64 values whose bit j (0 = most significant) is bit order[j] of the input.

    Hamming distances are unchanged by a bit permutation, so codes are stored and searched
    permuted. Bits that move by the same shift move together: at most 127 passes, usually fewer.
    """
    dst = 63 - np.arange(64)
    src = 63 - np.asarray(order, dtype=np.int64)
    out = np.zeros(len(values), dtype=np.uint64)
    for shift in np.unique(dst - src):
        mask = np.uint64(sum(1 << int(b) for b in src[dst - src == shift]))
        part = values & mask
        out |= part << np.uint64(shift) if shift >= 0 else part >> np.uint64(-shift)
    return out


def _collisions(groups: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """For each candidate bit (column of `bits`), the pairs of sample rows sharing a key once
    that bit is appended to the keys `groups` (dense labels, sorted)."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    size = np.diff(np.r_[starts, len(groups)])[:, None]
    ones = np.add.reduceat(bits, starts, axis=0).astype(np.int64)
    zeros = size - ones
    return (ones * (ones - 1) + zeros * (zeros - 1)).sum(axis=0)


def train_bit_order(sample: np.ndarray, key_bits: int, n_keys: int = 2) -> np.ndarray:
    """A bit order (64 source bit numbers, most significant first) whose first `n_keys`
    runs of `key_bits` bits make balanced, uncorrelated substrings on `sample` (uint64 codes).

    Greedy: the substrings take turns to add the unused bit that leaves the fewest pairs of
    sample hashes sharing that substring's key, which is the expected number of candidates a
    probe verifies (maximising the key's collision entropy). Constant or redundant bits (such as
    pHash's always-set DC bit, or a bit that copies another) are never worth adding, so they end
    up among the unused bits. On uniform random hashes every order is as good as any other; on
    the fixture clips' 3,362 pHash frame hashes (the DC bit always set) the trained order left
    41% fewer colliding pairs in 12-bit keys of a held-out half than the identity order.
    """
    sample = np.asarray(sample, dtype=np.uint64)
    bits = ((sample[:, None] >> (np.uint64(63) - np.arange(64, dtype=np.uint64))) & np.uint64(1)).astype(np.int32)
    chosen: list[list[int]] = [[] for _ in range(n_keys)]
    keys = [np.zeros(len(sample), dtype=np.int64) for _ in range(n_keys)]
    free = np.ones(64, dtype=bool)
    for _ in range(key_bits):
        for k in range(n_keys):
            order = np.argsort(keys[k], kind="stable")
            score = _collisions(keys[k][order], bits[order]) if len(sample) else np.zeros(64, np.int64)
            score = np.where(free, score, np.iinfo(np.int64).max)
            best = int(np.argmin(score))
            chosen[k].append(best)
            free[best] = False
            keys[k] = keys[k] * 2 + bits[:, best]
            _, keys[k] = np.unique(keys[k], return_inverse=True)
            keys[k] = keys[k].astype(np.int64)
    used = [b for c in chosen for b in c]
    return np.array(used + [b for b in range(64) if free[b]], dtype=np.int64)


def _key_bits_for(n: int) -> int:
    key_bits = math.floor(math.log2(max(2.0, MULTIHASH_TABLE_SHARE * n)))
    return int(min(MULTIHASH_MAX_KEY_BITS, max(MULTIHASH_MIN_KEY_BITS, key_bits)))


def _brute(queries: np.ndarray, codes: np.ndarray, max_bits: int):
    """(rows, positions, distances) of pairs within `max_bits`, by exhaustive comparison."""
    rows, positions, dists = [], [], []
    step = max(1, 4_000_000 // max(1, len(queries)))
    for start in range(0, len(codes), step):
        d = np.bitwise_count(queries[:, None] ^ codes[None, start : start + step])
        r, p = np.nonzero(d <= max_bits)
        rows.append(r)
        positions.append(p + start)
        dists.append(d[r, p])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (
        np.concatenate(rows),
        np.concatenate(positions),
        np.concatenate(dists).astype(np.int64),
    )


class _MultiHash:
    """Two-table multi-index hashing over 64-bit codes (see the module doc).

    Memory, per frame: the code once (8 bytes, bits permuted by the trained `bit_order`, sorted,
    so the first table is just bucket offsets into it), the frame id as a packed offset from the
    smallest id (3 bytes while ids span less than 2**24), the second table's position into the
    codes (3 bytes likewise); plus the two bucket offset tables, bounded by
    `MULTIHASH_TABLE_SHARE`. No code, key or id is held twice.
    """

    def __init__(
        self,
        ids: np.ndarray,
        codes: np.ndarray,
        key_bits: int | None = None,
        bit_order: np.ndarray | None = None,
    ):
        n = len(ids)
        self.key_bits = _key_bits_for(n) if key_bits is None else int(key_bits)
        if bit_order is None:
            step = max(1, n // MULTIHASH_TRAIN_SAMPLE)
            bit_order = train_bit_order(codes[::step], self.key_bits)
        self.bit_order = np.asarray(bit_order, dtype=np.int64)
        permuted = _permute_bits(np.asarray(codes, dtype=np.uint64), self.bit_order)
        order = np.argsort(permuted, kind="stable")
        self.codes = permuted[order]
        del permuted
        ids = np.asarray(ids, dtype=np.int64)[order]
        del order
        self.id_base = int(ids.min()) if n else 0
        self.ids_lo, self.ids_hi = _pack(ids - self.id_base)
        del ids
        size = 1 << self.key_bits
        self.starts1 = _starts(
            (self.codes >> np.uint64(64 - self.key_bits)).astype(np.int64), size
        )
        key2 = self._key2(self.codes)
        self.perm2_lo, self.perm2_hi = _pack(np.argsort(key2, kind="stable"))
        self.starts2 = _starts(key2, size)

    def _key2(self, codes: np.ndarray) -> np.ndarray:
        return (
            (codes >> np.uint64(64 - 2 * self.key_bits))
            & np.uint64((1 << self.key_bits) - 1)
        ).astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "codes": self.codes, "ids_lo": self.ids_lo, "ids_hi": self.ids_hi,
            "perm2_lo": self.perm2_lo, "perm2_hi": self.perm2_hi,
            "starts1": self.starts1, "starts2": self.starts2, "bit_order": self.bit_order,
            "id_base": np.array([self.id_base], dtype=np.int64), "key_bits": np.array([self.key_bits], dtype=np.int64),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, a) -> _MultiHash:
        self = cls.__new__(cls)
        self.codes, self.ids_lo, self.ids_hi = a["codes"], a["ids_lo"], a["ids_hi"]
        self.perm2_lo, self.perm2_hi = a["perm2_lo"], a["perm2_hi"]
        self.starts1, self.starts2 = a["starts1"], a["starts2"]
        self.bit_order = a["bit_order"].astype(np.int64)
        self.id_base, self.key_bits = int(a["id_base"][0]), int(a["key_bits"][0])
        n, size = len(self.codes), (1 << self.key_bits) + 1
        if (
            self.codes.dtype != np.uint64 or self.ids_lo.dtype != np.uint16 or self.perm2_lo.dtype != np.uint16
            or not all(len(x) == n for x in (self.ids_lo, self.ids_hi, self.perm2_lo, self.perm2_hi))
            or len(self.starts1) != size or len(self.starts2) != size
            or int(self.starts1[-1]) != n or int(self.starts2[-1]) != n
            or sorted(self.bit_order.tolist()) != list(range(64))
        ):  # fmt: skip
            raise ValueError("inconsistent multihash arrays")
        return self

    def __len__(self) -> int:
        return len(self.codes)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays().values())

    def all_ids(self) -> np.ndarray:
        return _unpack(self.ids_lo, self.ids_hi) + self.id_base

    def all_codes(self) -> np.ndarray:
        """The codes (uint64, original bit order), in the order of `all_ids`."""
        return _permute_bits(self.codes, np.argsort(self.bit_order))

    def search(self, queries: np.ndarray, max_bits: int):
        """(rows, ids, distances) of every candidate within `max_bits`, each pair once."""
        queries = _permute_bits(queries, self.bit_order)
        masks = _probe_masks(self.key_bits, MULTIHASH_PROBE_BITS)
        n_q, n_p = len(queries), len(masks)
        q_rows = np.arange(n_q)
        found_rows, found_pos, found_d = [], [], []
        for shift, starts, second in (
            (64 - self.key_bits, self.starts1, False),
            (64 - 2 * self.key_bits, self.starts2, True),
        ):
            keys = (
                (queries >> np.uint64(shift)) & np.uint64((1 << self.key_bits) - 1)
            ).astype(np.int64)
            probes = (keys[:, None] ^ masks[None, :]).ravel()
            lo = starts[probes].astype(np.int64)
            counts = starts[probes + 1].astype(np.int64) - lo
            pos = _expand(lo, counts)
            if second:
                pos = _unpack(self.perm2_lo, self.perm2_hi, pos)
            rows = np.repeat(np.repeat(q_rows, n_p), counts)
            d = np.bitwise_count(self.codes[pos] ^ queries[rows])
            keep = d <= max_bits
            found_rows.append(rows[keep])
            found_pos.append(pos[keep])
            found_d.append(d[keep])
        rows, pos, d = (
            np.concatenate(found_rows),
            np.concatenate(found_pos),
            np.concatenate(found_d),
        )
        _, first = np.unique(rows * len(self.codes) + pos, return_index=True)
        rows, pos, d = rows[first], pos[first], d[first]
        ids = _unpack(self.ids_lo, self.ids_hi, pos) + self.id_base
        return rows, ids, d.astype(np.int64)


class FrameIndex:
    """Hamming search over frame hashes, addressed by frame id: exact flat, or multi-index hashing.

    `approximate_from` (frames) is the size at which a flat index of 64-bit hashes turns itself
    into a multihash index; None keeps it flat.
    """

    def __init__(
        self, nbits: int = 64, approximate_from: int | None = APPROXIMATE_FROM_FRAMES
    ):
        if nbits % 8:
            raise ValueError("hash length must be a whole number of bytes")
        self.nbits = nbits
        self.approximate_from = approximate_from
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(nbits))
        self._ids: list[np.ndarray] = []
        self._multihash: _MultiHash | None = None
        self._tail_ids: list[np.ndarray] = []
        self._tail_codes: list[np.ndarray] = []
        self._tail_len = 0

    @property
    def kind(self) -> str:
        return FLAT if self._multihash is None else MULTIHASH

    def __len__(self) -> int:
        if self._multihash is not None:
            return len(self._multihash.codes) + self._tail_len
        return int(self._index.ntotal)

    @classmethod
    def build(
        cls, ids: np.ndarray, codes: np.ndarray, kind: str | None = None, **kwargs
    ) -> FrameIndex:
        """An index over (ids, codes) in one go; `kind` None picks by size, a given kind stays."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if kind is not None:
            kwargs.setdefault("approximate_from", None)
        index = cls(nbits=codes.shape[1] * 8 if codes.ndim == 2 else 64, **kwargs)
        if kind is None:
            kind = index._wanted_kind(len(ids))
        if kind == MULTIHASH:
            index._to_multihash(np.asarray(ids, dtype=np.int64), _as_u64(codes))
        else:
            index.add(ids, codes)
        return index

    def _wanted_kind(self, count: int) -> str:
        if self.nbits != 64 or self.approximate_from is None:
            return FLAT
        if self._multihash is not None:
            return (
                MULTIHASH if count >= FLAT_BELOW_SHARE * self.approximate_from else FLAT
            )
        return MULTIHASH if count >= self.approximate_from else FLAT

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(ids) == 0:
            return
        if codes.shape != (len(ids), self.nbits // 8):
            raise ValueError(
                f"codes must be ({len(ids)}, {self.nbits // 8}) uint8, got {codes.shape}"
            )
        if self._multihash is not None:
            self._tail_ids.append(ids)
            self._tail_codes.append(_as_u64(codes))
            self._tail_len += len(ids)
            if self._tail_len >= max(
                MULTIHASH_MIN_TAIL, MULTIHASH_TAIL_SHARE * len(self._multihash.codes)
            ):
                self._to_multihash(*self.contents_u64())
            return
        self._index.add_with_ids(codes, ids)
        self._ids.append(ids)
        if self._wanted_kind(len(self)) == MULTIHASH:
            log.info(
                "index holds %d frames; switching to multi-index hashing", len(self)
            )
            self._to_multihash(*self.contents_u64())

    def _to_multihash(self, ids: np.ndarray, codes_u64: np.ndarray) -> None:
        self._multihash = _MultiHash(ids, codes_u64)
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(self.nbits))
        self._ids = []
        self._tail_ids, self._tail_codes, self._tail_len = [], [], 0

    def contents_u64(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, codes as uint64) of every indexed frame (64-bit hashes only)."""
        if self._multihash is None:
            ids = self.ids()
            flat = faiss.downcast_IndexBinary(self._index.index)
            codes = faiss.vector_to_array(flat.xb).reshape(-1, self.nbits // 8)
            return ids, _as_u64(codes)
        ids = np.concatenate([self._multihash.all_ids(), *self._tail_ids])
        return ids, np.concatenate([self._multihash.all_codes(), *self._tail_codes])

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, codes as (n, bytes) uint8 rows) of every indexed frame, in one order."""
        if self._multihash is None:
            flat = faiss.downcast_IndexBinary(self._index.index)
            return self.ids(), faiss.vector_to_array(flat.xb).reshape(-1, self.nbits // 8)
        ids, codes = self.contents_u64()
        return ids, _as_rows(codes)

    def ids(self) -> np.ndarray:
        if self._multihash is not None:
            return np.concatenate([self._multihash.all_ids(), *self._tail_ids])
        return np.concatenate(self._ids) if self._ids else np.zeros(0, dtype=np.int64)

    def nbytes(self) -> int:
        """Bytes held by the index structures (codes, ids, tables)."""
        if self._multihash is not None:
            return self._multihash.nbytes() + 16 * self._tail_len
        # flat codes + the id map + IDMap2's reverse map (about 40 bytes an entry in a hash map)
        return len(self) * (self.nbits // 8 + 8 + 40)

    def coverage(self, algorithm: str, version: int) -> Coverage:
        return Coverage.of_contents(algorithm, version, *self.contents())

    def search_arrays(
        self, codes: np.ndarray, max_distance_bits: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, frame ids, distances) of every hit within `max_distance_bits` (inclusive)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        empty = np.zeros(0, dtype=np.int64)
        if len(codes) == 0 or len(self) == 0:
            return empty, empty, empty
        if self._multihash is None:
            # FAISS binary range_search keeps distances strictly below the radius.
            lims, distances, ids = self._index.range_search(
                codes, max_distance_bits + 1
            )
            rows = np.repeat(np.arange(len(codes)), np.diff(lims.astype(np.int64)))
            return rows, ids.astype(np.int64), distances.astype(np.int64)
        queries = _as_u64(codes)
        rows, ids, dists = self._multihash.search(queries, max_distance_bits)
        if self._tail_len:
            t_rows, t_pos, t_d = _brute(
                queries, np.concatenate(self._tail_codes), max_distance_bits
            )
            rows = np.concatenate([rows, t_rows])
            ids = np.concatenate([ids, np.concatenate(self._tail_ids)[t_pos]])
            dists = np.concatenate([dists, t_d])
        return rows, ids, dists

    def search(self, codes: np.ndarray, max_distance_bits: int) -> list[Hit]:
        """Every indexed frame within `max_distance_bits` of each query row (inclusive); exact for
        a flat index, nearly all of them (every one returned is within the distance) for multihash."""
        rows, ids, dists = self.search_arrays(codes, max_distance_bits)
        return [
            Hit(query_row=int(r), frame_id=int(i), distance_bits=int(d))
            for r, i, d in zip(rows, ids, dists)
        ]

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: Path, coverage: Coverage, record: dict | None = None) -> None:
        """Write the index and its coverage record atomically (temporary file, then rename).

        `record` adds fields to the JSON record (a shard's number, for instance)."""
        path = Path(path)
        if self._tail_len:
            self._to_multihash(*self.contents_u64())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write(path)
        except (OSError, RuntimeError) as e:  # FAISS reports a failed write as RuntimeError
            raise DependencyError(
                f"cannot save the frame index {path}: {_write_failure(e)}; the database is intact and the index "
                "is rebuilt from it on the next run once the disk has room"
            ) from e
        meta = {
            "format": INDEX_FORMAT,
            "nbits": self.nbits,
            "kind": self.kind,
            **asdict(coverage),
            **(record or {}),
        }
        if self._multihash is not None:
            meta["bit_order"] = self._multihash.bit_order.tolist()
        try:
            _atomic_write(_meta_path(path), json.dumps(meta, indent=1))
        except OSError as e:
            raise DependencyError(f"cannot save the frame index record {_meta_path(path)}: {_write_failure(e)}") from e

    def _write(self, path: Path) -> None:
        """The index file, written to a temporary file beside it and renamed over it."""
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=path.parent)
        os.close(fd)
        try:
            if self._multihash is None:
                faiss.write_index_binary(self._index, tmp)
            else:
                with open(tmp, "wb") as f:
                    np.savez(f, **self._multihash.arrays())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(
        cls, path: Path, approximate_from: int | None = APPROXIMATE_FROM_FRAMES
    ) -> tuple[FrameIndex, Coverage] | None:
        """The saved index and its coverage, or None when missing, unreadable or inconsistent."""
        path = Path(path)
        from vidtrace import shards  # a store may hold its index as shards instead

        if shards.shard_counts(path):
            return shards.load_sharded(path, approximate_from)
        try:
            meta = json.loads(_meta_path(path).read_text())
            if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
                return None
            nbits = int(meta["nbits"])
            kind = meta.get("kind", FLAT)
            coverage = Coverage(
                algorithm=str(meta["algorithm"]),
                version=int(meta["version"]),
                count=int(meta["count"]),
                max_id=int(meta["max_id"]),
                id_sum=int(meta["id_sum"]),
                digest=int(meta["digest"]),
            )
            index = cls(nbits=nbits, approximate_from=approximate_from)
            if kind == MULTIHASH:
                if nbits != 64:
                    return None
                with np.load(
                    io.BytesIO(path.read_bytes()), allow_pickle=False
                ) as arrays:
                    index._multihash = _MultiHash.from_arrays(
                        {k: arrays[k] for k in arrays.files}
                    )
            elif kind == FLAT:
                raw = faiss.read_index_binary(str(path))
                if not isinstance(raw, faiss.IndexBinaryIDMap2) or raw.d != nbits:
                    return None
                index._index = raw
                index._ids = [faiss.vector_to_array(raw.id_map).astype(np.int64)]
            else:
                return None
        except Exception:  # noqa: BLE001 - any unreadable file (zip, numpy, FAISS, JSON errors) means "rebuild"
            return None
        if index.coverage(coverage.algorithm, coverage.version) != coverage:
            return None  # the index file and its record were written by different runs
        return index, coverage


def read_record(path: Path) -> dict | None:
    """The JSON record saved beside an index file, or None when missing or unreadable."""
    try:
        meta = json.loads(_meta_path(Path(path)).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _meta_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".json")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_failure(error: Exception) -> str:
    """A short reason for a failed write: the OS's words ('No space left on device')."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    text = str(error)
    found = re.search(r"\(([^()]*)\)\s*$", text)  # FAISS ends its message with strerror in brackets
    return found.group(1) if found else text.splitlines()[-1][-200:]
