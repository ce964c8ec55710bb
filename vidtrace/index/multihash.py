"""Multi-index hashing over 64-bit hashes: the index of large frame stores, exact within 11 bits.

The hash is cut into `tables` disjoint substrings of `key_bits` bits, each the key of a table. A
query probes every key within `radius` bits of its own substring in every table and verifies the
candidates' full Hamming distance, so every hit it returns is exact. Two hashes at most
`tables * (radius + 1) - 1` bits apart (11 with either layout) differ by at most `radius` bits in
at least one substring (pigeonhole), so within that distance nothing is missed: the search gives
exactly what a flat scan gives. Which bits make the substrings is trained on a sample of the
indexed hashes (`train_bit_order`) and saved with the index; the layout and key length are chosen
by the number of hashes (`choose_layout`).
"""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path

import numpy as np

from vidtrace import threads
from vidtrace.hashes import permute_bits, popcount, u64_bits
from vidtrace.layout import atomic_file

#: (tables, probe radius) layouts: four 16-bit (or shorter) substrings probed within 2 bits, or
#: three of up to 21 bits probed within 3. Both find every pair at most 11 bits apart.
MULTIHASH_LAYOUTS = ((4, 2), (3, 3))
#: Pairs at most this many bits apart are always found (the match radius is 10).
MULTIHASH_EXACT_BITS = min(t * (r + 1) - 1 for t, r in MULTIHASH_LAYOUTS)
#: Cost of a probe and of a verified candidate in nanoseconds, measured at 10^6 frames
#: (benchmarks/index_scale.py): a probe reads two bucket offsets and grows the candidate arrays,
#: a candidate costs a gather and a popcount. The layout and key length minimise
#: probes * (PROBE + CANDIDATE * frames / 2**key_bits).
MULTIHASH_PROBE_NS, MULTIHASH_CANDIDATE_NS = 28.0, 8.7
#: The bucket tables (one uint32 offset per key and table) may take at most this many bytes per
#: indexed frame, or `MULTIHASH_MIN_TABLE_BYTES` when that is more: a key of 21 bits in three
#: tables (25 MB) only pays from about 6 million frames.
MULTIHASH_TABLE_BYTES_PER_FRAME = 4
MULTIHASH_MIN_TABLE_BYTES = 1 << 21
MULTIHASH_MIN_KEY_BITS = 8
#: Hashes sampled (evenly, in frame-id order) to choose which bits form the substrings (frames).
MULTIHASH_TRAIN_SAMPLE = 32_768
#: Frames added after a build are searched exactly until they reach this share of the indexed
#: frames (or at least `MULTIHASH_MIN_TAIL` frames); then the tables are rebuilt.
MULTIHASH_TAIL_SHARE = 0.1
MULTIHASH_MIN_TAIL = 65_536
#: Queries probed and verified together: in blocks the candidates' arrays stay within the
#: processor's caches (benchmarks/index_scale.py); blocks are searched in `vidtrace.threads`.
MULTIHASH_QUERY_BLOCK = 128
#: Bits of a candidate compared first, in the table's own order (so read in sequence): those
#: within the distance are then read whole through the table's positions.
_FRAGMENT_BITS = 32


def _probes_per_table(key_bits: int, radius: int) -> int:
    return sum(math.comb(key_bits, r) for r in range(radius + 1))


def choose_layout(n: int) -> tuple[int, int, int]:
    """(tables, key bits, radius) of the cheapest search over `n` hashes within the table budget."""
    budget = max(MULTIHASH_MIN_TABLE_BYTES, MULTIHASH_TABLE_BYTES_PER_FRAME * n)
    best: tuple[float, int, int, int] | None = None
    for tables, radius in MULTIHASH_LAYOUTS:
        for key_bits in range(MULTIHASH_MIN_KEY_BITS, 64 // tables + 1):
            if tables * ((1 << key_bits) + 1) * 4 > budget:
                break
            probes = tables * _probes_per_table(key_bits, radius)
            cost = probes * (MULTIHASH_PROBE_NS + MULTIHASH_CANDIDATE_NS * n / (1 << key_bits))
            if best is None or cost < best[0]:
                best = (cost, tables, key_bits, radius)
    assert best is not None
    return best[1], best[2], best[3]


def _rotl(values: np.ndarray, bits: int) -> np.ndarray:
    bits %= 64
    if bits == 0:
        return values
    return (values << np.uint64(bits)) | (values >> np.uint64(64 - bits))


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


def _owner(counts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The group of each position `at` of the concatenation of groups of `counts` elements."""
    return np.searchsorted(np.cumsum(counts), at, side="right")


def _pack(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integers as a uint16 low part and the narrowest unsigned high part.

    Frame positions and id offsets below 2**24 then cost 3 bytes instead of 4 (uint32) or 8.
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
    up among the unused bits, or last in a key when the keys take all 64. On uniform random
    hashes every order is as good as any other; on the fixture clips' 3,362 pHash frame hashes
    (the DC bit always set) the trained order left 41% fewer colliding pairs in 12-bit keys of a
    held-out half than the identity order.
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


class MultiHash:
    """Multi-index hashing over 64-bit codes (see the module doc).

    Memory, per frame: the code once (8 bytes, bits permuted by the trained `bit_order`, sorted,
    so the first table is just bucket offsets into it) and the frame id as a packed offset from
    the smallest id (3 bytes while ids span less than 2**24); for each other table, the frame's
    position in the codes (3 bytes likewise) and 32 bits of its code (4 bytes), both in the
    table's key order; plus the bucket offset tables, bounded by
    `MULTIHASH_TABLE_BYTES_PER_FRAME`. With four tables that is about 33 bytes a frame.
    """

    def __init__(
        self,
        ids: np.ndarray,
        codes: np.ndarray,
        layout: tuple[int, int, int] | None = None,
        bit_order: np.ndarray | None = None,
    ):
        n = len(ids)
        self.tables, self.key_bits, self.radius = choose_layout(n) if layout is None else map(int, layout)
        self.layout = (self.tables, self.key_bits, self.radius)
        if bit_order is None:
            step = max(1, n // MULTIHASH_TRAIN_SAMPLE)
            bit_order = train_bit_order(codes[::step], self.key_bits, self.tables)
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
        self.starts = [_starts(self._key(self.codes, 0), size)]
        self.perms: list[tuple[np.ndarray, np.ndarray]] = []
        self.fragments: list[np.ndarray] = []
        for t in range(1, self.tables):
            key = self._key(self.codes, t)
            perm = np.argsort(key, kind="stable")
            self.starts.append(_starts(key, size))
            self.perms.append(_pack(perm))
            self.fragments.append(self._fragment(self.codes[perm], t))

    def _key(self, codes: np.ndarray, table: int) -> np.ndarray:
        shift = np.uint64(64 - (table + 1) * self.key_bits)
        return ((codes >> shift) & np.uint64((1 << self.key_bits) - 1)).astype(np.int64)

    def _fragment(self, codes: np.ndarray, table: int) -> np.ndarray:
        """The 32 bits after the table's key (wrapping round), compared before the whole code."""
        return (_rotl(codes, (table + 1) * self.key_bits) >> np.uint64(64 - _FRAGMENT_BITS)).astype(np.uint32)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "codes": self.codes, "ids_lo": self.ids_lo, "ids_hi": self.ids_hi, "bit_order": self.bit_order,
            "id_base": np.array([self.id_base], dtype=np.int64),
            "layout": np.array([self.tables, self.key_bits, self.radius], dtype=np.int64),
        }  # fmt: skip
        for t, starts in enumerate(self.starts):
            out[f"starts{t}"] = starts
        for t, ((lo, hi), fragment) in enumerate(zip(self.perms, self.fragments), start=1):
            out[f"perm{t}_lo"], out[f"perm{t}_hi"], out[f"fragment{t}"] = lo, hi, fragment
        return out

    @classmethod
    def from_arrays(cls, a) -> MultiHash:
        self = cls.__new__(cls)
        self.codes, self.ids_lo, self.ids_hi = a["codes"], a["ids_lo"], a["ids_hi"]
        self.bit_order = a["bit_order"].astype(np.int64)
        self.id_base = int(a["id_base"][0])
        self.tables, self.key_bits, self.radius = (int(v) for v in a["layout"])
        self.layout = (self.tables, self.key_bits, self.radius)
        if not 2 <= self.tables <= 8 or not 1 <= self.key_bits <= 64 // self.tables or not 0 <= self.radius <= 4:
            raise ValueError("inconsistent multihash layout")
        self.starts = [a[f"starts{t}"] for t in range(self.tables)]
        self.perms = [(a[f"perm{t}_lo"], a[f"perm{t}_hi"]) for t in range(1, self.tables)]
        self.fragments = [a[f"fragment{t}"] for t in range(1, self.tables)]
        n, size = len(self.codes), (1 << self.key_bits) + 1
        per_frame = [self.ids_lo, self.ids_hi, *(x for pair in self.perms for x in pair), *self.fragments]
        if (
            self.codes.dtype != np.uint64 or self.ids_lo.dtype != np.uint16
            or any(lo.dtype != np.uint16 for lo, _ in self.perms) or any(f.dtype != np.uint32 for f in self.fragments)
            or not all(len(x) == n for x in per_frame)
            or not all(len(s) == size and int(s[-1]) == n for s in self.starts)
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
        """(rows, ids, distances) of every candidate within `max_bits`, each pair once; every pair
        within `MULTIHASH_EXACT_BITS` is found."""
        queries = permute_bits(np.asarray(queries, dtype=np.uint64), self.bit_order)
        # The blocks are independent numpy work, mostly outside the interpreter lock: in threads.
        parts = threads.each(
            lambda start: self._search_block(queries[start : start + MULTIHASH_QUERY_BLOCK], max_bits, start),
            range(0, len(queries), MULTIHASH_QUERY_BLOCK),
        )
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))

    def _search_block(self, queries: np.ndarray, max_bits: int, first_row: int):
        """`search` of a few queries (bits already permuted); rows counted from `first_row`.

        A pair close in several substrings is met in several tables: each table keeps only the
        pairs no earlier table finds (their keys there further apart than the radius), so every
        pair is returned once without sorting out repeats."""
        masks = _probe_masks(self.key_bits, self.radius)
        n_q = len(queries)
        keys = [self._key(queries, t) for t in range(self.tables)]
        found_rows, found_pos, found_d = [], [], []
        for t, starts in enumerate(self.starts):
            probes = (keys[t][:, None] ^ masks[None, :]).ravel()
            lo = np.take(starts, probes).astype(np.int64)
            counts = np.take(starts, probes + 1).astype(np.int64) - lo
            pos = _expand(lo, counts)
            # Probes are in query order, so each query's candidates are consecutive.
            per_query = counts.reshape(n_q, -1).sum(axis=1)
            if t:
                # 32 bits of each candidate, read in the table's order, before the whole code
                fragments = np.repeat(self._fragment(queries, t), per_query)
                near = np.flatnonzero(popcount(np.take(self.fragments[t - 1], pos) ^ fragments) <= max_bits)
                pos = _unpack(*self.perms[t - 1], np.take(pos, near))
                owners = _owner(per_query, near)
                codes = np.take(self.codes, pos)
                d = popcount(codes ^ np.take(queries, owners))
                new = d <= max_bits
                for earlier in range(t):
                    new &= popcount(self._key(codes, earlier) ^ np.take(keys[earlier], owners)) > self.radius
                keep = np.flatnonzero(new)
                rows = np.take(owners, keep)
            else:
                d = popcount(np.take(self.codes, pos) ^ np.repeat(queries, per_query))
                keep = np.flatnonzero(d <= max_bits)
                rows = _owner(per_query, keep)
            found_rows.append(rows)
            found_pos.append(np.take(pos, keep))
            found_d.append(np.take(d, keep))
        rows, pos, d = (np.concatenate(found_rows), np.concatenate(found_pos), np.concatenate(found_d))
        order = np.argsort(rows * len(self.codes) + pos)  # by query row, then position in the codes
        rows, pos, d = rows[order], pos[order], d[order]
        ids = _unpack(self.ids_lo, self.ids_hi, pos) + self.id_base
        return rows + first_row, ids, d.astype(np.int64)

    def write(self, path: Path) -> None:
        """Save the arrays to `path` (numpy's npz) atomically: temporary file, flushed, renamed."""
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **self.arrays())  # type: ignore[arg-type]

    @classmethod
    def read(cls, path: Path) -> MultiHash:
        """The arrays saved at `path`; raises (OSError, ValueError, zip errors) when unreadable.

        Each array is read from the file into its own memory, never the whole file into a buffer
        first: at 10^7 frames the peak is 306 MB instead of 569. A writer replaces the file by
        renaming a new one over it, so the open file stays the one being read."""
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as arrays:  # closed whatever the bytes
            return cls.from_arrays({k: arrays[k] for k in arrays.files})
