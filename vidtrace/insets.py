"""Picture-in-picture: where, in a stretch of pictures, a smaller video is shown over a host.

Two searches, both pure (numpy arrays in, a box out):

- by straight edges (`_edged_inset`): an inset is pasted, so its four sides are straight lines
  that stay put while the pictures change, sharper than anything a line's width beside them. A
  face or a body in the host has curved edges that move; a talking head shown over another
  talking head differs from it in nothing else, so this search comes first.
- by what the inset differs in (`_textured_inset`): texture, motion, brightness or detail scale,
  for an inset whose sides blend into a busy host.

Either box must show motion (`INSET_MIN_EDGE_MOTION`, `INSET_MIN_MOTION`): a static logo or a held
card is not an inset.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidtrace.inset_lines import common_shape, in_corner, strongest
from vidtrace.spec import (
    COMMON_SHAPES,
    INSET_BRIGHTNESS_UNIT,
    INSET_COARSE_STEP_PX,
    INSET_DETAIL_BLUR_PX,
    INSET_EDGE_CANDIDATES,
    INSET_EDGE_GAP_PX,
    INSET_EDGE_OVERRUN_PX,
    INSET_EDGE_REACH_PX,
    INSET_FAINT_SIDE,
    INSET_GRID_CELLS,
    INSET_MAX_SHARE,
    INSET_MIN_CONTRAST,
    INSET_MIN_CORNER_EDGE,
    INSET_MIN_EDGE,
    INSET_MIN_EDGE_MOTION,
    INSET_MIN_MOTION,
    INSET_MIN_SHARE,
    INSET_NEAR_BEST,
    INSET_ODD_SHAPE_FACTOR,
    INSET_OVERRUN_WEIGHT,
    INSET_SETTLE_PX,
    INSET_SETTLED_SHAPE_TOLERANCE,
    INSET_SHAPE_TOLERANCE,
    INSET_SNAP_TOLERANCE,
)

Box = tuple[int, int, int, int]  # (top, bottom, left, right) in pixels, bottom and right excluded


def find_inset(means: np.ndarray, aspect: float | None = None) -> Box | None:
    """(top, bottom, left, right) in pixels of an inset video in a stretch of pictures, or None.
    `means` is (pictures, height, width), both sides divisible by `INSET_GRID_CELLS`; `aspect`,
    when known, is the pictures' display width / height (an inset is a whole video, so its
    shape is usually a common one)."""
    boxes = inset_boxes(means, aspect)
    return boxes[0] if boxes else None


def inset_boxes(means: np.ndarray, aspect: float | None = None) -> list[Box]:
    """The inset's box (see `find_inset`), each side settled on the sharpest line near it; and
    when the box has none of the common shapes, also the boxes of the nearest common shape with
    a side moved outwards (see `settled_boxes`). Empty when the stretch shows no inset."""
    means = means.astype(np.float32)

    def textured(m: np.ndarray) -> list[Box]:
        box = _textured_inset(m)
        return [] if box is None else [box]

    searches = ((lambda m: _edged_insets(m, aspect), INSET_MIN_EDGE_MOTION), (textured, INSET_MIN_MOTION))
    for search, min_motion in searches:
        moving = [
            (top, bottom, left, right)
            for top, bottom, left, right in search(means)
            if float(means[:, top:bottom, left:right].std(axis=0).mean()) >= min_motion
        ]
        if moving:
            return list(dict.fromkeys(settled for box in moving for settled in settled_boxes(means, box, aspect)))
    return []


def settled_boxes(means: np.ndarray, box: Box, aspect: float | None) -> list[Box]:
    """`box` with each side moved, by up to `INSET_SETTLE_PX`, to the line between two pixels
    across which the pictures step the most on average along that side (the nearest such line
    of equal steps). Then, when the box's shape is none of the common ones (within
    `INSET_SETTLED_SHAPE_TOLERANCE`) but within `INSET_SNAP_TOLERANCE` of one:
    - when one side's step is under `INSET_FAINT_SIDE` of the second weakest other side's, also
      the box of the nearest shape that moves the faint side outwards, placed by its opposite;
    - else, when the box lies in a corner of the frame (within `INSET_CORNER_SHARE` of two
      adjacent edges), also the two boxes of the nearest shape with one of the two sides across
      it moved outwards, each placed by its opposite."""
    means = np.asarray(means, dtype=np.float32)  # steps between grey levels, not wrapped around
    n_rows, n_cols = means.shape[1:]
    down = np.abs(np.diff(means, axis=1)).mean(axis=0)  # down[y - 1, x]: from line y - 1 to y
    across = np.abs(np.diff(means, axis=2)).mean(axis=0)  # across[y, x - 1]: from column x - 1 to x

    def row_step(y: int, x0: int, x1: int) -> float:
        return float(down[y - 1, x0:x1].mean()) if 1 <= y < n_rows and x1 > x0 else 0.0

    def column_step(x: int, y0: int, y1: int) -> float:
        return float(across[y0:y1, x - 1].mean()) if 1 <= x < n_cols and y1 > y0 else 0.0

    def near(at: int, n: int) -> range:
        return range(max(1, at - INSET_SETTLE_PX), min(n - 1, at + INSET_SETTLE_PX) + 1)

    top, bottom, left, right = box
    top, bottom = (max(near(y, n_rows), key=lambda v: (row_step(v, left, right), -abs(v - y))) for y in (top, bottom))
    left, right = (
        max(near(x, n_cols), key=lambda v: (column_step(v, top, bottom), -abs(v - x))) for x in (left, right)
    )
    settled = (top, bottom, left, right)
    steps = [row_step(top, left, right), row_step(bottom, left, right),
             column_step(left, top, bottom), column_step(right, top, bottom)]  # fmt: skip
    if not aspect:
        return [settled]
    column_width = aspect * n_rows / n_cols  # one column's display width, in rows' heights
    shape = (right - left) * column_width / (bottom - top)
    if common_shape(shape, INSET_SETTLED_SHAPE_TOLERANCE):
        return [settled]  # a common shape already (a side that barely shows: the host looks alike there)
    # A side that barely shows is found inside the inset, where its content starts to differ from
    # the host: only shapes that move it outwards (taller for a top or bottom side, wider for the
    # others). When every side shows, the one inside the inset may be any of the two across the
    # nearest common shape: both are moved, each in a box of its own, for a box in a corner (where
    # editors put insets; a face or a body taken for one lies in the middle).
    faint = int(np.argmin(steps))
    others = sorted(steps[:faint] + steps[faint + 1 :])
    if steps[faint] < INSET_FAINT_SIDE * others[1]:
        outwards = [q for q in COMMON_SHAPES if (q < shape if faint < 2 else q > shape)]
        if not outwards:
            return [settled]
        common = min(outwards, key=lambda q: abs(shape / q - 1))
        moving = [faint]
    elif in_corner(top, bottom, left, right, n_rows, n_cols):
        common = min(COMMON_SHAPES, key=lambda q: abs(shape / q - 1))
        moving = [0, 1] if common < shape else [2, 3]
    else:
        return [settled]
    if abs(shape / common - 1) > INSET_SNAP_TOLERANCE:
        return [settled]
    height = round((right - left) * column_width / common)
    width = round((bottom - top) * common / column_width)
    by_side = [  # the box with that side (top, bottom, left, right) placed by its opposite
        (bottom - height, bottom, left, right),
        (top, top + height, left, right),
        (top, bottom, right - width, right),
        (top, bottom, left, left + width),
    ]
    boxes = [settled]
    for side in moving:
        snapped = by_side[side]
        y0, y1, x0, x1 = snapped
        moved = max(abs(a - b) for a, b in zip(snapped, settled))
        if moved > 1 and y0 >= 0 and x0 >= 0 and y1 <= n_rows and x1 <= n_cols:  # a pixel: as good as settled
            boxes.append(snapped)
    return boxes


def _edged_insets(means: np.ndarray, aspect: float | None = None) -> list[Box]:
    """The rectangle whose four sides are the most prominent straight lines, when its weakest side
    stands out by `INSET_MIN_EDGE` (in units of the picture's typical step); and, when that one is
    not in a corner of the frame (`INSET_CORNER_SHARE`), the best rectangle in a corner, when its
    weakest side stands out by `INSET_MIN_CORNER_EDGE` (editors put insets in corners; a host's
    face over a bar can make a sharper rectangle than an inset beside it). Empty when neither.

    A line's strength at each pixel is the mean step across it over the stretch (a pasted edge
    is there in every picture), less the stronger of the steps `INSET_EDGE_REACH_PX` pixels either side
    (texture is as strong beside a line as on it). A side's score is that prominence averaged
    along the side, less part of it along the same line just past each of the side's ends
    (`INSET_EDGE_OVERRUN_PX`): a pasted side ends at its corners, where a host's own straight lines
    (a bar, a wall's edge) run on. The best side segments of each column and row give the
    candidate lines; every rectangle of candidate lines of an allowed size is scored by its
    weakest side, that score cut by `INSET_ODD_SHAPE_FACTOR` when, with the display `aspect`, the
    rectangle's shape is none of the common ones. Of the rectangles scoring within
    `INSET_NEAR_BEST` of the best, the largest is the inset: an inset's own content holds
    straight lines too (a wall's corner, a bar), and they make smaller rectangles inside it."""
    n_rows, n_cols = means.shape[1:]
    reach = INSET_EDGE_REACH_PX
    across = np.zeros((n_rows, n_cols), np.float32)  # step across a vertical line at (y, x)
    down = np.zeros((n_rows, n_cols), np.float32)  # step across a horizontal line
    across[:, 1:-1] = np.abs(means[:, :, 2:] - means[:, :, :-2]).mean(axis=0)
    down[1:-1, :] = np.abs(means[:, 2:, :] - means[:, :-2, :]).mean(axis=0)
    scale = float(np.median(across) + np.median(down)) / 2 + 1.0
    vertical = np.zeros_like(across)
    horizontal = np.zeros_like(down)
    vertical[:, reach:-reach] = across[:, reach:-reach] - np.maximum(across[:, : -2 * reach], across[:, 2 * reach :])
    horizontal[reach:-reach, :] = down[reach:-reach, :] - np.maximum(down[: -2 * reach, :], down[2 * reach :, :])
    along_y = np.vstack([np.zeros((1, n_cols), np.float32), np.cumsum(vertical / scale, axis=0)])  # [y, x]
    along_x = np.hstack([np.zeros((n_rows, 1), np.float32), np.cumsum(horizontal / scale, axis=1)])  # [y, x]

    def sizes(n: int) -> tuple[int, int]:  # the allowed sides of an inset, in lines
        return int(np.ceil(n * INSET_MIN_SHARE)), int(n * INSET_MAX_SHARE)

    def spans(n: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = sizes(n)
        pairs = np.array(
            [(a, b) for a in range(reach, n - reach) for b in range(a + lo, min(a + hi, n - 1 - reach) + 1)]
        )
        return pairs[:, 0], pairs[:, 1]

    y0s, y1s = spans(n_rows)
    x0s, x1s = spans(n_cols)
    by_column = ((along_y[y1s, :] - along_y[y0s, :]) / (y1s - y0s)[:, None]).T  # [x, span]
    by_row = (along_x[:, x1s] - along_x[:, x0s]) / (x1s - x0s)[None, :]  # [y, span]

    def candidates(by_line: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The strongest lines (`strongest`), each line's stretch being where its spans hold at
        least half its best span's prominence (its best span at least, whatever its sign)."""
        best = by_line.max(axis=1)
        good = by_line >= (best - 0.5 * np.abs(best))[:, None]
        first = np.where(good, starts[None, :], len(good)).min(axis=1)
        last = np.where(good, ends[None, :], 0).max(axis=1)
        return np.array(sorted(strongest(best, INSET_EDGE_CANDIDATES, INSET_EDGE_GAP_PX, first, last)))

    columns, rows = candidates(by_column, y0s, y1s), candidates(by_row, x0s, x1s)
    x0, x1, y0, y1 = (a.ravel() for a in np.meshgrid(columns, columns, rows, rows, indexing="ij"))
    (min_width, max_width), (min_height, max_height) = sizes(n_cols), sizes(n_rows)
    allowed = (x1 - x0 >= min_width) & (x1 - x0 <= max_width) & (y1 - y0 >= min_height) & (y1 - y0 <= max_height)
    x0, x1, y0, y1 = x0[allowed], x1[allowed], y0[allowed], y1[allowed]
    if len(x0) == 0:
        return []
    over = INSET_EDGE_OVERRUN_PX

    def mean_along(cumulative: np.ndarray, fixed: np.ndarray, start: np.ndarray, end: np.ndarray, by_column: bool):
        """Mean prominence over lines start..end-1 of a line (0 where that is empty)."""
        limit = cumulative.shape[0 if by_column else 1] - 1
        start, end = np.clip(start, 0, limit), np.clip(end, 0, limit)
        total = (cumulative[end, fixed] - cumulative[start, fixed]) if by_column else (
            cumulative[fixed, end] - cumulative[fixed, start])  # fmt: skip
        return np.where(end > start, total / np.maximum(end - start, 1), 0.0)

    sides = []
    for fixed, start, end, by_column in (
        (x0, y0, y1, True),
        (x1, y0, y1, True),
        (y0, x0, x1, False),
        (y1, x0, x1, False),
    ):
        cumulative = along_y if by_column else along_x
        inside = mean_along(cumulative, fixed, start, end, by_column)
        before = np.maximum(mean_along(cumulative, fixed, start - over, start, by_column), 0.0)
        after = np.maximum(mean_along(cumulative, fixed, end + 1, end + 1 + over, by_column), 0.0)
        sides.append(inside - INSET_OVERRUN_WEIGHT * (before + after))
    score = np.minimum.reduce(sides)
    if aspect:
        shape = (x1 - x0) / (y1 - y0) * aspect * n_rows / n_cols
        score = np.where(common_shape(shape, INSET_SHAPE_TOLERANCE), score, score * INSET_ODD_SHAPE_FACTOR)

    def box(k: int) -> Box:  # inside the edges
        return int(y0[k]) + 1, int(y1[k]), int(x0[k]) + 1, int(x1[k])

    boxes: list[Box] = []
    best = float(score.max())
    if best > INSET_MIN_EDGE:
        near = np.flatnonzero(score >= INSET_NEAR_BEST * best)
        boxes.append(box(int(near[np.argmax(((x1 - x0) * (y1 - y0))[near])])))
        if in_corner(*boxes[0], n_rows, n_cols):
            return boxes
    corner = np.flatnonzero(in_corner(y0 + 1, y1, x0 + 1, x1, n_rows, n_cols))
    if len(corner):
        k = int(corner[np.argmax(score[corner])])
        if score[k] > INSET_MIN_CORNER_EDGE:
            boxes.append(box(k))
    return boxes


def _detail_maps(means: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, over a stretch of pictures: the mean step to the next pixel (texture), the
    mean step to the pixel `INSET_COARSE_STEP_PX` away, and the temporal spread (motion)."""

    def mean_steps(by: int) -> np.ndarray:
        across = np.abs(means[:, :, by:] - means[:, :, :-by]).mean(axis=0)
        down = np.abs(means[:, by:, :] - means[:, :-by, :]).mean(axis=0)
        return np.pad(across, ((0, 0), (0, by)), mode="edge") + np.pad(down, ((0, by), (0, 0)), mode="edge")

    return mean_steps(1), mean_steps(INSET_COARSE_STEP_PX), means.std(axis=0)


def _cell_features(
    fine: np.ndarray, coarse: np.ndarray, motion: np.ndarray, brightness: np.ndarray
) -> list[np.ndarray]:
    """Per grid cell, from the per-pixel maps of a stretch: texture (mean gradient), motion
    (temporal spread), brightness and detail scale. An inset shows another video, so it usually
    differs from its host in one of them; shrunk to fit, its detail is finer than the host's even
    when the two videos look alike. Detail scale is read over `INSET_DETAIL_BLUR_PX` pixels around
    each cell, as a host's own pattern would otherwise show through the grid."""
    g = INSET_GRID_CELLS
    height, width = fine.shape
    blur = (INSET_DETAIL_BLUR_PX, INSET_DETAIL_BLUR_PX)

    def cells(a: np.ndarray) -> np.ndarray:
        return a.reshape(g, height // g, g, width // g).mean(axis=(1, 3))

    return [
        np.log1p(cells(fine)),  # texture
        np.log1p(cells(motion)),  # motion
        cells(brightness) / INSET_BRIGHTNESS_UNIT,  # brightness
        np.log((cells(cv2.blur(fine, blur)) + 1.0) / (cells(cv2.blur(coarse, blur)) + 1.0)),  # near 0: fine
    ]


def _side_contrasts(feature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cols[c, y0, y1]: mean step of `feature` from cell column c-1 to c+1, over rows y0..y1-1, in
    units of the typical such step; rows[c, x0, x1] the same from cell row c-1 to c+1. An inset's
    edge lies somewhere in cell c, rarely on the grid: the step across it is whole only between
    the cells either side. Cells on the frame's edge have no step (0)."""
    g = INSET_GRID_CELLS
    dx = feature[:, 2:] - feature[:, :-2]  # [y, c - 1]
    dy = feature[2:, :] - feature[:-2, :]  # [c - 1, x]
    scale = float(np.median(np.abs(dx)) + np.median(np.abs(dy))) + 1e-6
    edge = np.zeros((1, g + 1))
    sum_x = np.vstack([edge, np.vstack([np.zeros((1, g - 2)), np.cumsum(dx, axis=0)]).T, edge])  # [c, y]: rows < y
    sum_y = np.vstack([edge, np.vstack([np.zeros((1, g - 2)), np.cumsum(dy.T, axis=0)]).T, edge])  # [c, x]
    span = np.maximum(np.arange(g + 1)[None, :] - np.arange(g + 1)[:, None], 1)
    cols = (sum_x[:, None, :] - sum_x[:, :, None]) / span / scale
    rows = (sum_y[:, None, :] - sum_y[:, :, None]) / span / scale
    return cols, rows


def _textured_inset(means: np.ndarray) -> tuple[int, int, int, int] | None:
    """The inset by the texture, motion, brightness or detail it differs in from its host
    (`means` as float32).

    `means` is (pictures, height, width), both sides divisible by the grid. Every rectangle of
    grid cells of the allowed size, not touching the frame's edge, is scored by its weakest side:
    how much the cells just inside differ from those just outside, the same way round on all four
    sides, in the feature (texture, motion, brightness, detail scale) where that is largest.
    """
    g = INSET_GRID_CELLS
    height, width = means.shape[1:]
    lo = max(1, int(np.ceil(g * INSET_MIN_SHARE)))
    hi = int(g * INSET_MAX_SHARE)
    pairs = np.array([(a, b) for a in range(1, g) for b in range(a + lo, min(a + hi, g - 1) + 1)])
    if len(pairs) == 0:
        return None
    start, end = pairs[:, 0], pairs[:, 1]  # a rectangle is (column pair p, row pair q)
    fine, coarse, motion = _detail_maps(means)
    brightness = means.mean(axis=0)
    best = np.full((len(pairs), len(pairs)), -np.inf, dtype=np.float32)
    for feature in _cell_features(fine, coarse, motion, brightness):
        cols, rows = _side_contrasts(feature)
        # Every edge cell against every span of the other axis, then rows of that per rectangle:
        # inside minus outside on each side (the left edge lies in column x0-1, the right in x1).
        col_spans = cols[:, start, end].astype(np.float32)  # [edge cell, row pair]
        row_spans = rows[:, start, end].astype(np.float32).T  # [column pair, edge cell]
        left, right = col_spans[start - 1], -col_spans[end]  # [column pair, row pair]
        top, bottom = row_spans[:, start - 1], -row_spans[:, end]
        weakest = np.minimum(np.minimum(left, right), np.minimum(top, bottom))
        weakest_negative = -np.maximum(np.maximum(left, right), np.maximum(top, bottom))
        np.maximum(best, np.maximum(weakest, weakest_negative), out=best)
    p, q = np.unravel_index(int(np.argmax(best)), best.shape)
    if best[p, q] < INSET_MIN_CONTRAST:
        return None
    # The edges lie in cells x0-1 and x1 (y0-1 and y1): start from those cells' middles.
    cy, cx = height // g, width // g
    y0, y1, x0, x1 = (int(v) for v in (pairs[q, 0], pairs[q, 1], pairs[p, 0], pairs[p, 1]))
    box = (y0 * cy - cy // 2, y1 * cy + cy // 2, x0 * cx - cx // 2, x1 * cx + cx // 2)
    return _refine_box([fine, motion, brightness], box, max(cy, cx), max(cy, cx))


def _refine_box(
    features: list[np.ndarray], box: tuple[int, int, int, int], reach: int, window: int
) -> tuple[int, int, int, int]:
    """Move each side of a grid-aligned box, by up to `reach` pixels, to the line across which the
    per-pixel `features` change the most between `window` lines on either side: the grid is
    coarser than the inset's real edge, and its edge cells are only partly inset."""
    top, bottom, left, right = box
    features = [f / (float(f.std()) + 1e-6) for f in features]

    def best(profiles: list[np.ndarray], at: int) -> int:
        n = len(profiles[0])
        lo, hi = max(window, at - reach), min(n - window, at + reach)
        if lo > hi:
            return at
        lines = np.arange(lo, hi + 1)
        score = np.zeros(len(lines))
        for profile in profiles:
            sums = np.concatenate([[0.0], np.cumsum(profile)])
            before = (sums[lines] - sums[lines - window]) / window
            after = (sums[lines + window] - sums[lines]) / window
            score += np.abs(after - before)
        return int(lines[int(np.argmax(score))])

    cols = [f[top:bottom].mean(axis=0) for f in features]
    rows = [f[:, left:right].mean(axis=1) for f in features]
    return best(rows, top), best(rows, bottom), best(cols, left), best(cols, right)
