"""Multi-index hashing over 64-bit hashes: the approximate search of large frame indexes.

Two tables, each keyed by a disjoint substring of the hash (`key_bits` bits each); a query probes
every key within `MULTIHASH_PROBE_BITS` of its own substring in both tables and verifies the
candidates' full Hamming distance, so every hit it returns is exact and it misses only pairs whose
two substrings both differ by more than the probe radius. Which bits make the substrings is
trained on a sample of the indexed hashes (`train_bit_order`) and saved with the index.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from pathlib import Path

import numpy as np

from vidtrace.hashes import permute_bits, popcount, u64_bits
from vidtrace.layout import atomic_file

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
#: Queries probed and verified together. Each costs about 13,000 candidates at 10^6 frames (17-bit
#: keys); in blocks of this many the candidates' arrays stay within the processor's caches: 4,096
#: queries took twice as long in one block as in blocks of 128 (benchmarks/index_scale.py).
MULTIHASH_QUERY_BLOCK = 128


@functools.cache
def _probe_masks(key_bits: int, radius: int) -> np.ndarray:
    """Every key_bits-bit value with at most `radius` bits set."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(key_bits), r)]
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
    bits = u64_bits(sample)
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


def brute_search(queries: np.ndarray, codes: np.ndarray, max_bits: int):
    """(rows, positions, distances) of pairs within `max_bits`, by exhaustive comparison."""
    rows, positions, dists = [], [], []
    step = max(1, 4_000_000 // max(1, len(queries)))
    for start in range(0, len(codes), step):
        d = popcount(queries[:, None] ^ codes[None, start : start + step])
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


class MultiHash:
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
        permuted = permute_bits(np.asarray(codes, dtype=np.uint64), self.bit_order)
        order = np.argsort(permuted, kind="stable")
        self.codes = permuted[order]
        del permuted
        ids = np.asarray(ids, dtype=np.int64)[order]
        del order
        self.id_base = int(ids.min()) if n else 0
        self.ids_lo, self.ids_hi = _pack(ids - self.id_base)
        del ids
        size = 1 << self.key_bits
        self.starts1 = _starts((self.codes >> np.uint64(64 - self.key_bits)).astype(np.int64), size)
        key2 = self._key2(self.codes)
        self.perm2_lo, self.perm2_hi = _pack(np.argsort(key2, kind="stable"))
        self.starts2 = _starts(key2, size)

    def _key2(self, codes: np.ndarray) -> np.ndarray:
        return ((codes >> np.uint64(64 - 2 * self.key_bits)) & np.uint64((1 << self.key_bits) - 1)).astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "codes": self.codes, "ids_lo": self.ids_lo, "ids_hi": self.ids_hi,
            "perm2_lo": self.perm2_lo, "perm2_hi": self.perm2_hi,
            "starts1": self.starts1, "starts2": self.starts2, "bit_order": self.bit_order,
            "id_base": np.array([self.id_base], dtype=np.int64), "key_bits": np.array([self.key_bits], dtype=np.int64),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, a) -> MultiHash:
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
        return permute_bits(self.codes, np.argsort(self.bit_order))

    def search(self, queries: np.ndarray, max_bits: int):
        """(rows, ids, distances) of every candidate within `max_bits`, each pair once."""
        queries = permute_bits(np.asarray(queries, dtype=np.uint64), self.bit_order)
        parts = [
            self._search_block(queries[start : start + MULTIHASH_QUERY_BLOCK], max_bits, start)
            for start in range(0, len(queries), MULTIHASH_QUERY_BLOCK)
        ]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))

    def _search_block(self, queries: np.ndarray, max_bits: int, first_row: int):
        """`search` of a few queries (bits already permuted); rows counted from `first_row`."""
        masks = _probe_masks(self.key_bits, MULTIHASH_PROBE_BITS)
        n_q, n_p = len(queries), len(masks)
        q_rows = np.arange(n_q)
        found_rows, found_pos, found_d = [], [], []
        for shift, starts, second in (
            (64 - self.key_bits, self.starts1, False),
            (64 - 2 * self.key_bits, self.starts2, True),
        ):
            keys = ((queries >> np.uint64(shift)) & np.uint64((1 << self.key_bits) - 1)).astype(np.int64)
            probes = (keys[:, None] ^ masks[None, :]).ravel()
            lo = starts[probes].astype(np.int64)
            counts = starts[probes + 1].astype(np.int64) - lo
            pos = _expand(lo, counts)
            if second:
                pos = _unpack(self.perm2_lo, self.perm2_hi, pos)
            rows = np.repeat(np.repeat(q_rows, n_p), counts)
            d = popcount(self.codes[pos] ^ queries[rows])
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
        return rows + first_row, ids, d.astype(np.int64)

    def write(self, path: Path) -> None:
        """Save the arrays to `path` (numpy's npz) atomically: temporary file, flushed, renamed."""
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **self.arrays())  # type: ignore[arg-type]

    @classmethod
    def read(cls, path: Path) -> MultiHash:
        """The arrays saved at `path`; raises (OSError, ValueError, zip errors) when unreadable."""
        with np.load(io.BytesIO(Path(path).read_bytes()), allow_pickle=False) as arrays:
            return cls.from_arrays({k: arrays[k] for k in arrays.files})
