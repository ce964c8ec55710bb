"""The one place that converts between hash representations and counts their bits.

A frame hash is stored and exchanged as raw bytes (8 bytes for a 64-bit hash). imagehash gives
a boolean matrix; FAISS wants rows of uint8; multi-index hashing works on uint64 values; people
read hex. Every Hamming distance is counted by `popcount`.
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
    if hashes and set(map(len, hashes)) != {nbytes}:
        raise ValueError(f"every hash must be {nbytes} bytes")
    if not hashes:
        return np.zeros((0, nbytes), dtype=np.uint8)
    return np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), nbytes).copy()


def popcount(x: np.ndarray) -> np.ndarray:
    """The number of set bits of each element of an unsigned integer array: the one popcount
    kernel (numpy's, a hardware instruction where the CPU has one)."""
    return np.bitwise_count(x)


def row_popcount(rows: np.ndarray) -> np.ndarray:
    """Set bits per row of uint8 code rows (the last axis holds one code's bytes), as int32.

    Rows of a whole number of 64-bit words are counted a word at a time (about 30x faster than
    byte by byte); the count does not depend on how the bytes are grouped."""
    rows = np.asarray(rows, dtype=np.uint8)
    nbytes = rows.shape[-1] if rows.ndim else 0
    if nbytes and nbytes % 8 == 0:
        words = np.ascontiguousarray(rows).view(np.uint64)
        counts = popcount(words)
        return (counts[..., 0] if nbytes == 8 else counts.sum(axis=-1)).astype(np.int32)
    return popcount(rows).sum(axis=-1, dtype=np.int32)


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two hashes of equal length."""
    if len(a) != len(b):
        raise ValueError("hashes differ in length")
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return int(popcount(x).sum())


def hamming_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between each row of `a` and the same row of `b` (uint8 code matrices)."""
    return row_popcount(a ^ b)


def hamming_matrix(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between two uint8 code matrices (brute force, the oracle)."""
    return row_popcount(queries[:, None, :] ^ refs[None, :, :])


def rows_to_u64(codes: np.ndarray) -> np.ndarray:
    """(n, 8) uint8 rows (most significant byte first) to n uint64 of the same value."""
    return np.ascontiguousarray(codes, dtype=np.uint8).view(">u8").ravel().astype(np.uint64)


def u64_to_rows(values: np.ndarray) -> np.ndarray:
    """n uint64 to (n, 8) uint8 rows, most significant byte first (the inverse of `rows_to_u64`)."""
    return np.ascontiguousarray(np.asarray(values).astype(">u8")).view(np.uint8).reshape(len(values), 8)


def rows_to_words(codes: np.ndarray) -> np.ndarray:
    """(n, bytes) uint8 rows to (n, words) uint64, each 8 bytes read most significant first;
    rows not a whole number of words are zero-padded at the end."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(len(codes), -1)
    if codes.shape[1] % 8:
        codes = np.pad(codes, ((0, 0), (0, 8 - codes.shape[1] % 8)))
    return codes.view(">u8").astype(np.uint64)


def u64_bits(values: np.ndarray) -> np.ndarray:
    """(n, 64) int32 bits of uint64 values, column 0 the most significant."""
    values = np.asarray(values, dtype=np.uint64)
    return ((values[:, None] >> (np.uint64(63) - np.arange(64, dtype=np.uint64))) & np.uint64(1)).astype(np.int32)


def permute_bits(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """uint64 values whose bit j (0 = most significant) is bit order[j] of the input.

    Hamming distances are unchanged by a bit permutation. Bits that move by the same shift move
    together: at most 127 passes, usually fewer.
    """
    values = np.asarray(values, dtype=np.uint64)
    dst = 63 - np.arange(64)
    src = 63 - np.asarray(order, dtype=np.int64)
    out = np.zeros(len(values), dtype=np.uint64)
    for shift in np.unique(dst - src):
        mask = np.uint64(sum(1 << int(b) for b in src[dst - src == shift]))
        part = values & mask
        out |= part << np.uint64(shift) if shift >= 0 else part >> np.uint64(-shift)
    return out


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
        near = inside & (row_popcount(codes[: n - k] ^ codes[k:]) <= max_bits)
        last[i[near]] = np.maximum(last[i[near]], i[near] + k)
        first[i[near] + k] = np.minimum(first[i[near] + k], i[near])
    return first, last
