"""Geometry of inset boxes: common shapes, corners, and the strongest candidate lines."""

from __future__ import annotations

import numpy as np

from vidtrace.spec import COMMON_SHAPES, INSET_CORNER_SHARE


def common_shape(shapes, tolerance: float):
    """Whether each display shape (width / height; a number or an array) is within `tolerance` of
    one of `COMMON_SHAPES`."""
    return (np.abs(np.asarray(shapes)[..., None] / np.array(COMMON_SHAPES) - 1) <= tolerance).any(axis=-1)


def strongest(values: np.ndarray, count: int, gap: int, starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """Indices of the `count` largest values, no two within `gap` of each other along spans that
    overlap by more than half the shorter one (`starts`, `ends`: each line's span, where its value
    was found). Such two are one edge, seen on neighbouring lines; two edges a few lines apart
    along different stretches (an inset's side beside a bar's edge) are both kept."""
    out: list[int] = []
    for i in np.argsort(-values):
        i = int(i)
        length = ends[i] - starts[i]
        if all(
            abs(i - j) > gap
            or min(ends[i], ends[j]) - max(starts[i], starts[j]) <= 0.5 * min(length, ends[j] - starts[j])
            for j in out
        ):
            out.append(i)
            if len(out) == count:
                break
    return out


def in_corner(top, bottom, left, right, n_rows: int, n_cols: int):
    """Whether each box (sides as numbers or arrays) lies within `INSET_CORNER_SHARE` of two
    adjacent edges of the frame."""
    share = INSET_CORNER_SHARE
    return (np.minimum(top, n_rows - bottom) <= share * n_rows) & (np.minimum(left, n_cols - right) <= share * n_cols)
