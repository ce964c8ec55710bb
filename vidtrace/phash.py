"""imagehash's pHash computed for many pictures at once, bit for bit.

`imagehash.phash` is the definition (and the tests' oracle): the picture as 8-bit grey, resized to
(4 * hash_size) pixels square, a 2-D DCT (scipy's type II, along rows then columns), the
hash_size x hash_size lowest frequencies compared with their median. Here the pictures arrive
already square and grey, so PIL's conversion and resize are copies and are left out, and the
DCT runs on the whole stack along its two picture axes: the same arithmetic per picture, so the
same bits, at a fraction of the cost per picture.
"""

from __future__ import annotations

import numpy as np


def phash_rows(pictures: np.ndarray, hash_size: int) -> np.ndarray:
    """pHash of each (side x side) uint8 picture of the (n, side, side) stack, side being
    4 * hash_size: an (n, hash_size**2 / 8) uint8 matrix, bits most significant first, row-major
    (as `hashes.bits_to_bytes` packs `imagehash.phash(...).hash`)."""
    import scipy.fftpack  # as imagehash imports it: only when hashing

    pictures = np.asarray(pictures)
    side = 4 * hash_size
    if pictures.ndim != 3 or pictures.shape[1:] != (side, side) or pictures.dtype != np.uint8:
        raise ValueError(f"pictures must be an (n, {side}, {side}) uint8 stack")
    n = len(pictures)
    if n == 0:
        return np.zeros((0, hash_size * hash_size // 8), dtype=np.uint8)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pictures, axis=1), axis=2)
    low = dct[:, :hash_size, :hash_size].reshape(n, hash_size * hash_size)
    median = np.median(low, axis=1)
    return np.packbits(low > median[:, None], axis=1)
