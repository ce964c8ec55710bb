"""The one place that converts between hash representations.

A frame hash is stored and exchanged as raw bytes (8 bytes for a 64-bit hash). imagehash gives
a boolean matrix; FAISS wants rows of uint8; people read hex.
"""

from __future__ import annotations

import numpy as np


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """A boolean array (any shape, row-major) to packed bytes, most significant bit first."""
    return np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes()


def bytes_to_bits(raw: bytes) -> np.ndarray:
    """Packed bytes back to a flat boolean array."""
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).astype(bool)


def to_hex(raw: bytes) -> str:
    return raw.hex()


def from_hex(text: str) -> bytes:
    return bytes.fromhex(text)


def to_matrix(hashes: list[bytes], nbytes: int) -> np.ndarray:
    """A list of hashes to a contiguous (n, nbytes) uint8 matrix, the layout FAISS binary indexes take."""
    if any(len(h) != nbytes for h in hashes):
        raise ValueError(f"every hash must be {nbytes} bytes")
    if not hashes:
        return np.zeros((0, nbytes), dtype=np.uint8)
    return np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), nbytes).copy()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two hashes of equal length."""
    if len(a) != len(b):
        raise ValueError("hashes differ in length")
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return int(_POPCOUNT[x].sum())


def hamming_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between each row of `a` and the same row of `b` (uint8 code matrices)."""
    return _POPCOUNT[a ^ b].sum(axis=1, dtype=np.int32)


def hamming_matrix(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between two uint8 code matrices (brute force, the oracle)."""
    x = queries[:, None, :] ^ refs[None, :, :]
    return _POPCOUNT[x].sum(axis=2, dtype=np.int32)


def self_echo_spans(ts_s: np.ndarray, codes: np.ndarray, max_bits: int, window_s: float) -> np.ndarray:
    """For each hash, how long its near duplicates (within `max_bits`) in the same sequence last
    around it: the span, within `window_s` either side, from the earliest to the latest frame
    that looks like it. `ts_s` must be sorted. Near zero for moving content; the whole window for a
    held picture. Costs one comparison per pair of frames closer than `window_s`."""
    first, last = self_echo_extents(ts_s, codes, max_bits, window_s)
    return ts_s[last] - ts_s[first]


def self_echo_extents(
    ts_s: np.ndarray, codes: np.ndarray, max_bits: int, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of each hash's earliest and latest near duplicate within `window_s` either side
    (its own index when it has none); see `self_echo_spans`."""
    n = len(ts_s)
    first = np.arange(n, dtype=np.int64)  # earliest near-duplicate index
    last = np.arange(n, dtype=np.int64)
    reach = np.searchsorted(ts_s, ts_s + window_s, side="right")  # exclusive bound of the window
    widest = int((reach - np.arange(n)).max(initial=1))
    for k in range(1, widest):
        i = np.arange(n - k)
        inside = i + k < reach[: n - k]
        near = inside & (_POPCOUNT[codes[: n - k] ^ codes[k:]].sum(axis=1) <= max_bits)
        last[i[near]] = np.maximum(last[i[near]], i[near] + k)
        first[i[near] + k] = np.minimum(first[i[near] + k], i[near])
    return first, last
