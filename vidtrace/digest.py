"""A digest of a set of (frame id, hash) pairs that SQL-side counts cannot give: the same pairs in
any order give the same digest, a hash moved to another id changes it."""

from __future__ import annotations

import numpy as np

from vidtrace.hashes import rows_to_words

# splitmix64's constants: a cheap mix in which every input bit changes about half the output bits.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def frame_mixes(ids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each frame's mix(id, hash), uint64: what it adds to `frame_digest`."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.uint64)
    words = rows_to_words(np.ascontiguousarray(codes, dtype=np.uint8).reshape(len(ids), -1))
    x = ids.astype(np.uint64) * _GOLDEN
    for k in range(words.shape[1]):
        x = _mix64(x ^ words[:, k])
    return x


def frame_digest(ids: np.ndarray, codes: np.ndarray) -> int:
    """Sum (mod 2**64) over frames of mix(id, hash): the same set of (id, hash) pairs gives the
    same digest in any order; a hash moved to another id changes it. `codes` are (n, bytes) uint8
    rows, hashed as big-endian 64-bit words (zero-padded)."""
    return int(np.sum(frame_mixes(ids, codes), dtype=np.uint64))
