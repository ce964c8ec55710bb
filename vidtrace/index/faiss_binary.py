"""The one module that imports FAISS, and the one place that knows its quirks.

- Binary `range_search` keeps distances strictly below the radius: a search for "at most d bits"
  asks for radius d + 1 (`BinaryFlat.range_search` takes the inclusive distance).
- Ids: a bare FAISS index numbers its entries 0, 1, ...; an `IndexBinaryIDMap` wrapper maps them
  to our int64 ids (`IndexBinaryIDMap2` also keeps the reverse map). The codes of a flat index
  are its `xb` vector, in the order added, and the ids its `id_map`, in the same order.
- Binary index I/O takes file names, not file objects; a failed write raises RuntimeError whose
  message ends with the OS's reason in brackets (`write_failure`).

Without FAISS installed, `vidtrace.index` still imports; building or reading an index raises
DependencyError.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vidtrace.errors import DependencyError
from vidtrace.layout import atomic_file

try:
    import faiss
except ImportError as _error:  # pragma: no cover - faiss-cpu is a declared dependency
    faiss = None  # type: ignore[assignment]
    _MISSING: ImportError | None = _error
else:
    _MISSING = None


def _lib():
    if faiss is None:
        raise DependencyError(
            "FAISS is not installed (it is a dependency of vidtrace: pip install faiss-cpu); "
            "the frame and sound indexes need it"
        ) from _MISSING
    return faiss


class BinaryFlat:
    """Exact Hamming search over `nbits`-bit codes ((n, nbits / 8) uint8 rows) addressed by int64 ids.

    `reverse_map` chooses `IndexBinaryIDMap2` (the frame index's files) over `IndexBinaryIDMap`
    (the sound index's files): a file is read back only as the type it was written as.
    """

    def __init__(self, nbits: int, reverse_map: bool = True, _index=None):
        lib = _lib()
        self.nbits = nbits
        self.reverse_map = reverse_map
        if _index is None:
            wrapper = lib.IndexBinaryIDMap2 if reverse_map else lib.IndexBinaryIDMap
            _index = wrapper(lib.IndexBinaryFlat(nbits))
        self._index = _index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(codes, dtype=np.uint8), np.ascontiguousarray(ids, dtype=np.int64))

    def range_search(self, codes: np.ndarray, max_distance_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, ids, distances) of every entry within `max_distance_bits` (inclusive) of
        each query row, by query row."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        lims, distances, ids = self._index.range_search(codes, max_distance_bits + 1)  # strictly below the radius
        rows = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(lims.astype(np.int64)))
        return rows, ids.astype(np.int64), distances.astype(np.int64)

    def ids(self) -> np.ndarray:
        """Every entry's id, in the order added."""
        return _lib().vector_to_array(self._index.id_map).astype(np.int64)

    def codes(self) -> np.ndarray:
        """Every entry's code ((n, bytes) uint8), in the order of `ids`."""
        lib = _lib()
        flat = lib.downcast_IndexBinary(self._index.index)
        return lib.vector_to_array(flat.xb).reshape(-1, self.nbits // 8)

    def write(self, path: Path) -> None:
        """Write the index to `path` atomically (temporary file, flushed, renamed). Raises OSError,
        or RuntimeError from FAISS (see `write_failure`)."""
        lib = _lib()
        with atomic_file(path) as tmp:
            lib.write_index_binary(self._index, tmp)

    @classmethod
    def read(cls, path: Path, nbits: int, reverse_map: bool = True) -> BinaryFlat | None:
        """The index saved at `path`, or None when it is not one this class writes with `nbits`
        bits. Raises what FAISS raises on an unreadable file (RuntimeError) or OSError."""
        lib = _lib()
        raw = lib.read_index_binary(str(path))
        wrapper = lib.IndexBinaryIDMap2 if reverse_map else lib.IndexBinaryIDMap
        if not isinstance(raw, wrapper) or raw.d != nbits:
            return None
        return cls(nbits, reverse_map, _index=raw)


def write_failure(error: Exception) -> str:
    """A short reason for a failed write: the OS's words ('No space left on device')."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    text = str(error)
    found = re.search(r"\(([^()]*)\)\s*$", text)  # FAISS ends its message with strerror in brackets
    return found.group(1) if found else text.splitlines()[-1][-200:]
