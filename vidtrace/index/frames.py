"""The frame index: Hamming search over frame hashes, addressed by SQL frame id.

SQL is the source of truth: the index file is derived, saved beside the database with a small
JSON record of what it covers, and rebuilt when that record does not agree with SQL
(`vidtrace.index.sync`).

Two kinds of index, chosen by store size (`MULTIHASH_FROM_FRAMES`):

- `flat`: exact Hamming search (FAISS, through `vidtrace.index.faiss_binary`), every query row
  against every frame.
- `multihash`: multi-index hashing for 64-bit hashes (`vidtrace.index.multihash`): the same hits
  as flat search for every distance up to 11 bits (the match radius is 10), found without
  comparing every frame; a search past 11 bits (a radius set higher) scans every frame instead.
  Frames added after a build wait in a small flat tail until the tables are rebuilt.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vidtrace.errors import DependencyError
from vidtrace.hashes import rows_to_u64, u64_to_rows
from vidtrace.index.base import FLAT, MULTIHASH, Hit, as_hits, empty_hits
from vidtrace.index.coverage import Coverage
from vidtrace.index.faiss_binary import BinaryFlat, write_failure
from vidtrace.index.multihash import (
    MULTIHASH_EXACT_BITS,
    MULTIHASH_MIN_TAIL,
    MULTIHASH_TAIL_SHARE,
    MultiHash,
    choose_layout,
)
from vidtrace.layout import atomic_write, record_path

log = logging.getLogger(__name__)

INDEX_FORMAT = 4  # 2: packed ids and positions, trained bit order; 3: a digest of ids and hashes;
# 4: multihash of three or four tables, exact within 11 bits

#: Stores with at least this many frames switch from flat search to multi-index hashing (frames).
#: Both find the same hits. On random hashes multihash is faster from about 100,000 frames, but
#: FAISS's scan uses every core and costs little per hit: at 200,599 real frame hashes with 32
#: true copies of a 60 s query, lookup took 7.80 s with multihash and 6.75 s with flat search,
#: import 116 s and 98 s (benchmarks/lookup_scale.py). At 10^6 multihash wins by far.
MULTIHASH_FROM_FRAMES = 500_000
#: A multihash index that shrinks below this share of the threshold goes back to flat.
FLAT_BELOW_SHARE = 0.5


class FrameIndex:
    """Hamming search over frame hashes, addressed by frame id: exact flat, or multi-index hashing.

    `multihash_from` (frames) is the size at which a flat index of 64-bit hashes turns itself
    into a multihash index; None keeps it flat. Satisfies `vidtrace.index.Index`.
    """

    def __init__(self, nbits: int = 64, multihash_from: int | None = MULTIHASH_FROM_FRAMES):
        if nbits % 8:
            raise ValueError("hash length must be a whole number of bytes")
        self.nbits = nbits
        self.multihash_from = multihash_from
        self._flat = BinaryFlat(nbits)
        # With a multihash index, `_flat` holds the frames added since it was built (its tail).
        self._multihash: MultiHash | None = None
        self._scan: BinaryFlat | None = None  # every frame, for searches past the multihash's radius

    @property
    def kind(self) -> str:
        return FLAT if self._multihash is None else MULTIHASH

    def __len__(self) -> int:
        if self._multihash is not None:
            return len(self._multihash.codes) + len(self._flat)
        return len(self._flat)

    @classmethod
    def build(cls, ids: np.ndarray, codes: np.ndarray, kind: str | None = None, **kwargs) -> FrameIndex:
        """An index over (ids, codes) in one go; `kind` None picks by size, a given kind stays."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if kind is not None:
            kwargs.setdefault("multihash_from", None)
        index = cls(nbits=codes.shape[1] * 8 if codes.ndim == 2 else 64, **kwargs)
        if kind is None:
            kind = index._wanted_kind(len(ids))
        if kind == MULTIHASH:
            index._to_multihash(np.asarray(ids, dtype=np.int64), rows_to_u64(codes))
        else:
            index.add(ids, codes)
        return index

    def _wanted_kind(self, count: int) -> str:
        if self.nbits != 64 or self.multihash_from is None:
            return FLAT
        if self._multihash is not None:
            return MULTIHASH if count >= FLAT_BELOW_SHARE * self.multihash_from else FLAT
        return MULTIHASH if count >= self.multihash_from else FLAT

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(ids) == 0:
            return
        if codes.shape != (len(ids), self.nbits // 8):
            raise ValueError(f"codes must be ({len(ids)}, {self.nbits // 8}) uint8, got {codes.shape}")
        self._flat.add(ids, codes)
        self._scan = None
        if self._multihash is not None:
            if len(self._flat) >= max(MULTIHASH_MIN_TAIL, MULTIHASH_TAIL_SHARE * len(self._multihash.codes)):
                self._to_multihash(*self.contents_u64())
            return
        if self._wanted_kind(len(self)) == MULTIHASH:
            log.info("index holds %d frames; switching to multi-index hashing", len(self))
            self._to_multihash(*self.contents_u64())

    def _to_multihash(self, ids: np.ndarray, codes_u64: np.ndarray) -> None:
        # A rebuild keeps the trained bit order while the layout stays (the sample it was trained
        # on is still most of the store): training takes about a second, the rest a fraction.
        before = self._multihash
        keep = before.bit_order if before is not None and choose_layout(len(ids)) == before.layout else None
        self._multihash = MultiHash(ids, codes_u64, bit_order=keep)
        self._flat = BinaryFlat(self.nbits)
        self._scan = None

    def contents_u64(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, codes as uint64) of every indexed frame (64-bit hashes only)."""
        if self._multihash is None:
            return self._flat.ids(), rows_to_u64(self._flat.codes())
        ids = np.concatenate([self._multihash.all_ids(), self._flat.ids()])
        return ids, np.concatenate([self._multihash.all_codes(), rows_to_u64(self._flat.codes())])

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, codes as (n, bytes) uint8 rows) of every indexed frame, in one order."""
        if self._multihash is None:
            return self._flat.ids(), self._flat.codes()
        ids, codes = self.contents_u64()
        return ids, u64_to_rows(codes)

    def ids(self) -> np.ndarray:
        if self._multihash is not None:
            return np.concatenate([self._multihash.all_ids(), self._flat.ids()])
        return self._flat.ids()

    def nbytes(self) -> int:
        """Bytes held by the index structures (codes, ids, tables)."""
        if self._multihash is not None:
            return self._multihash.nbytes() + self._flat_bytes()  # and its flat tail
        return self._flat_bytes()

    def _flat_bytes(self) -> int:
        # flat codes + the id map + IDMap2's reverse map (about 40 bytes an entry in a hash map)
        return len(self._flat) * (self.nbits // 8 + 8 + 40)

    def coverage(self, algorithm: str, version: int) -> Coverage:
        return Coverage.of_contents(algorithm, version, *self.contents())

    def search_arrays(self, codes: np.ndarray, max_distance_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, frame ids, distances) of every hit within `max_distance_bits` (inclusive)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(codes) == 0 or len(self) == 0:
            return empty_hits()
        if self._multihash is None:
            return self._flat.range_search(codes, max_distance_bits)
        if max_distance_bits > MULTIHASH_EXACT_BITS:
            # Past the distance multihash is exact for (a radius set above the default): a scan
            # of every frame, built once, so that the answer is still that of flat search.
            if self._scan is None:
                self._scan = BinaryFlat(self.nbits)
                self._scan.add(*self.contents())
            return self._scan.range_search(codes, max_distance_bits)
        rows, ids, dists = self._multihash.search(rows_to_u64(codes), max_distance_bits)
        if len(self._flat):
            t_rows, t_ids, t_d = self._flat.range_search(codes, max_distance_bits)
            rows = np.concatenate([rows, t_rows])
            ids = np.concatenate([ids, t_ids])
            dists = np.concatenate([dists, t_d])
        return rows, ids, dists

    def search(self, codes: np.ndarray, max_distance_bits: int) -> list[Hit]:
        """Every indexed frame within `max_distance_bits` of each query row (inclusive), whatever
        the kind of index."""
        return as_hits(*self.search_arrays(codes, max_distance_bits))

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: Path, coverage: Coverage, record: dict | None = None) -> None:
        """Write the index and its coverage record, each atomically (temporary file, flushed, renamed).

        `record` adds fields to the JSON record (a shard's number, for instance)."""
        path = Path(path)
        if self._multihash is not None and len(self._flat):
            self._to_multihash(*self.contents_u64())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._multihash is None:
                self._flat.write(path)
            else:
                self._multihash.write(path)
        except (OSError, RuntimeError) as e:  # FAISS reports a failed write as RuntimeError
            raise DependencyError(
                f"cannot save the frame index {path}: {write_failure(e)}; the database is intact and the index "
                "is rebuilt from it on the next run once the disk has room"
            ) from e
        meta = {"format": INDEX_FORMAT, "nbits": self.nbits, "kind": self.kind, **asdict(coverage), **(record or {})}
        if self._multihash is not None:
            meta["bit_order"] = self._multihash.bit_order.tolist()
        try:
            atomic_write(record_path(path), json.dumps(meta, indent=1))
        except OSError as e:
            raise DependencyError(f"cannot save the frame index record {record_path(path)}: {write_failure(e)}") from e

    @classmethod
    def load(cls, path: Path, multihash_from: int | None = MULTIHASH_FROM_FRAMES) -> tuple[FrameIndex, Coverage] | None:
        """The index saved in the one file `path` and its coverage, or None when missing,
        unreadable or inconsistent. (`vidtrace.index.load_index` also reads a sharded index.)"""
        path = Path(path)
        try:
            meta = json.loads(record_path(path).read_text())
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
            index = cls(nbits=nbits, multihash_from=multihash_from)
            if kind == MULTIHASH:
                if nbits != 64:
                    return None
                index._multihash = MultiHash.read(path)
            elif kind == FLAT:
                flat = BinaryFlat.read(path, nbits)
                if flat is None:
                    return None
                index._flat = flat
            else:
                return None
        except Exception:
            return None
        if index.coverage(coverage.algorithm, coverage.version) != coverage:
            return None  # the index file and its record were written by different runs
        return index, coverage


def read_record(path: Path) -> dict | None:
    """The JSON record saved beside an index file, or None when missing or unreadable."""
    try:
        meta = json.loads(record_path(Path(path)).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None
