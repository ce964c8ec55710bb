"""The FAISS binary index of frame hashes. The one place that knows FAISS's quirks.

Ids in the index are the SQL frame ids. SQL is the source of truth: the index file is derived,
saved beside the database with a small JSON record of what it covers, and rebuilt when that
record does not agree with SQL.

Quirk handled here: `range_search` on binary indexes returns distances strictly below the
radius, so a search for "at most d bits" asks for radius d + 1.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

INDEX_FORMAT = 1


@dataclass(frozen=True)
class Coverage:
    """What an index holds, comparable with the same aggregates computed in SQL."""

    algorithm: str
    version: int
    count: int
    max_id: int
    id_sum: int


@dataclass(frozen=True)
class Hit:
    query_row: int
    frame_id: int
    distance_bits: int


class FrameIndex:
    """Exact (flat) Hamming search over frame hashes, addressed by frame id."""

    def __init__(self, nbits: int = 64):
        if nbits % 8:
            raise ValueError("hash length must be a whole number of bytes")
        self.nbits = nbits
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(nbits))
        self._ids: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(ids) == 0:
            return
        if codes.shape != (len(ids), self.nbits // 8):
            raise ValueError(f"codes must be ({len(ids)}, {self.nbits // 8}) uint8, got {codes.shape}")
        self._index.add_with_ids(codes, ids)
        self._ids.append(ids)

    def coverage(self, algorithm: str, version: int) -> Coverage:
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, dtype=np.int64)
        return Coverage(
            algorithm=algorithm,
            version=version,
            count=int(len(ids)),
            max_id=int(ids.max()) if len(ids) else 0,
            id_sum=int(ids.sum()),
        )

    def search(self, codes: np.ndarray, max_distance_bits: int) -> list[Hit]:
        """Every indexed frame within `max_distance_bits` of each query row (inclusive)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(codes) == 0 or len(self) == 0:
            return []
        lims, distances, ids = self._index.range_search(codes, max_distance_bits + 1)
        hits = []
        for row in range(len(codes)):
            for k in range(lims[row], lims[row + 1]):
                hits.append(Hit(query_row=row, frame_id=int(ids[k]), distance_bits=int(distances[k])))
        return hits

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: Path, coverage: Coverage) -> None:
        """Write the index and its coverage record atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=path.parent)
        os.close(fd)
        try:
            faiss.write_index_binary(self._index, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        meta = {"format": INDEX_FORMAT, "nbits": self.nbits, **asdict(coverage)}
        _atomic_write(_meta_path(path), json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: Path) -> tuple["FrameIndex", Coverage] | None:
        """The saved index and its coverage, or None when missing, unreadable or inconsistent."""
        path = Path(path)
        try:
            meta = json.loads(_meta_path(path).read_text())
            if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
                return None
            nbits = int(meta["nbits"])
            coverage = Coverage(
                algorithm=str(meta["algorithm"]),
                version=int(meta["version"]),
                count=int(meta["count"]),
                max_id=int(meta["max_id"]),
                id_sum=int(meta["id_sum"]),
            )
            raw = faiss.read_index_binary(str(path))
        except (OSError, ValueError, TypeError, KeyError, RuntimeError):
            return None
        if not isinstance(raw, faiss.IndexBinaryIDMap2) or raw.d != nbits:
            return None
        index = cls(nbits=nbits)
        index._index = raw
        index._ids = [faiss.vector_to_array(raw.id_map).astype(np.int64)]
        if index.coverage(coverage.algorithm, coverage.version) != coverage:
            return None  # the index file and its record were written by different runs
        return index, coverage


def _meta_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".json")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
