"""Padding: where a frame's content is, once bars, coloured padding and blurred backgrounds are
cut away (`content_box`). Pure: a grey picture in, a box out.

Three kinds of padding are found on each side, and the deepest wins: uniform bars (black, grey or
any flat colour: lines of little spread whose mean stays that of the outermost line), blurred
padding (lines with far less detail than the picture's sharp lines, equally deep at both ends),
and a clip laid over a blurred copy of itself, found by its seams. A flat or soft border that a
subject's outline ends (a plain wall, a green screen: the line past it keeps the border's colour
but where a head or a shoulder touches it) is the picture's backdrop, not padding, and stays.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidtrace.inset_lines import common_shape
from vidtrace.spec import (
    BACKDROP_MIN_STD,
    BACKDROP_SHARE,
    BLUR_ASYMMETRY,
    BLUR_SHARPNESS_RATIO,
    BORDER_MEAN_DELTA,
    BORDER_STD,
    FILL_LINES,
    FLAT_BACKDROP_SHARE,
    MAX_BORDER_SHARE,
    MIN_BLUR_SHARE,
    SEAM_RATIO,
    SEAM_SHARE,
    SEAM_SOFTNESS,
    SEAM_STEP,
    SHAPE_TOLERANCE,
    SHARP_LINES_PERCENTILE,
)


def _border_depth(lines_std: np.ndarray, lines_mean: np.ndarray, limit: int) -> int:
    """How many lines from the start of the arrays form a uniform border."""
    edge_mean = lines_mean[0]
    depth = 0
    while depth < limit and lines_std[depth] < BORDER_STD and abs(lines_mean[depth] - edge_mean) < BORDER_MEAN_DELTA:
        depth += 1
    return depth


def _exact_fill(pixels: np.ndarray, depth: int) -> bool:
    """Whether the border ending `depth` lines into `pixels` (from its first line) is one exact
    colour: its first `FILL_LINES` lines spread less than `BACKDROP_MIN_STD` along them (median)."""
    if depth <= 0:
        return False
    outer = pixels[: min(depth, FILL_LINES)].astype(np.float32)
    return float(np.median(outer.std(axis=1))) < BACKDROP_MIN_STD


def _is_padding(pixels: np.ndarray, depth: int, exact_pair: bool, flat: bool) -> bool:
    """Whether the flat or soft border ending `depth` lines into `pixels` (from its first line) is
    padding rather than the picture's backdrop.

    An editor fills padding with one exact colour, on both sides of the picture at once (a
    letterbox, a pillarbox, a picture padded to a new shape): when this border and the one
    opposite are each one exact colour (`exact_pair`), the border is padding, even where a wall
    of the same grey goes on past it. A crop through a plain wall leaves it on one side only.
    Otherwise the border is a backdrop (a plain wall or a green screen that a subject's outline
    ends, and that goes on around it) when the line past it keeps the colour of the border's last
    line over more than `FLAT_BACKDROP_SHARE` of its length for a `flat` border, or
    `BACKDROP_SHARE` for a soft one; padding ends at the content's straight edge, where most
    pixels change. A head cropped close to the frame's edge takes up to half the line past a
    flat wall; a clip over a blurred copy of itself keeps half to three quarters of its edge's
    colours past the blur."""
    if exact_pair:
        return True
    inside = pixels[min(depth + 1, len(pixels) - 1)].astype(np.float32)
    border = pixels[depth - 1].astype(np.float32)
    kept = float((np.abs(inside - border) < BORDER_MEAN_DELTA).mean())
    return kept <= (FLAT_BACKDROP_SHARE if flat else BACKDROP_SHARE)


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation) by partial sorting: a third of the time."""
    position = (len(values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(values) - 1)
    part = np.partition(values, (low, high))
    return float(part[low] + (part[high] - part[low]) * (position - low))


def _soft_depths(sharpness: np.ndarray, limit: int) -> tuple[int, int]:
    """Depths of blurred padding at both ends of a line profile (0, 0 when there is none).

    Blurred padding (the clip enlarged and blurred behind itself) has far less detail than the
    clip: lines from each edge whose sharpness stays below a share of the clip's sharp lines (at
    `SHARP_LINES_PERCENTILE`) are padding. Such a background is centred, so both ends must agree.
    """
    n = len(sharpness)
    sharp = _percentile(sharpness, SHARP_LINES_PERCENTILE)
    if sharp <= 0:
        return 0, 0
    soft = sharpness < BLUR_SHARPNESS_RATIO * sharp
    depths = []
    for line in (soft, soft[::-1]):
        depth = 0
        while depth < limit and line[depth]:
            depth += 1
        depths.append(depth)
    start, end = depths
    if min(start, end) < n * MIN_BLUR_SHARE or abs(start - end) > n * BLUR_ASYMMETRY:
        return 0, 0
    return start, end


def content_box(pixels: np.ndarray, aspect: float | None = None) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the frame's content, padding on any side removed.

    Padding is a uniform bar (black, grey or any flat colour) or a blurred background. With the
    frame's display aspect (width / height), a clip laid over a blurred copy of itself is also
    found by its seams (`_seam_depths`) when the canvas is portrait (or landscape) and the clip
    between the seams has a common shape.
    """
    height, width = pixels.shape
    pixels = np.ascontiguousarray(pixels)
    img = pixels.astype(np.float32)
    squares = img * img
    row_mean, col_mean = cv2.reduce(img, 1, cv2.REDUCE_AVG).ravel(), cv2.reduce(img, 0, cv2.REDUCE_AVG).ravel()
    row_std = np.sqrt(np.maximum(cv2.reduce(squares, 1, cv2.REDUCE_AVG).ravel() - row_mean**2, 0.0))
    col_std = np.sqrt(np.maximum(cv2.reduce(squares, 0, cv2.REDUCE_AVG).ravel() - col_mean**2, 0.0))
    max_rows = int(height * MAX_BORDER_SHARE)
    max_cols = int(width * MAX_BORDER_SHARE)
    top = _border_depth(row_std, row_mean, max_rows)
    bottom = _border_depth(row_std[::-1], row_mean[::-1], max_rows)
    left = _border_depth(col_std, col_mean, max_cols)
    right = _border_depth(col_std[::-1], col_mean[::-1], max_cols)
    # Detail per line: mean absolute difference to the next pixel, across and along.
    down = cv2.absdiff(pixels[1:, :], pixels[:-1, :])  # step to the next row
    across = cv2.absdiff(pixels[:, 1:], pixels[:, :-1])  # step to the next column
    detail = cv2.add(across[:-1, :], down[:, :-1], dtype=cv2.CV_16U)
    row_detail = cv2.reduce(detail, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    col_detail = cv2.reduce(detail, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    soft_top, soft_bottom = _soft_depths(row_detail, max_rows)
    soft_left, soft_right = _soft_depths(col_detail, max_cols)
    seam_top = seam_bottom = seam_left = seam_right = 0
    if aspect and aspect < 1:
        seam_top, seam_bottom = _seam_depths(down, row_detail, max_rows)
        if not common_shape(aspect * height / max(1, height - seam_top - seam_bottom), SHAPE_TOLERANCE):
            seam_top = seam_bottom = 0
    elif aspect and aspect > 1:
        seam_left, seam_right = _seam_depths(np.ascontiguousarray(across.T), col_detail, max_cols)
        if not common_shape(aspect * (width - seam_left - seam_right) / width, SHAPE_TOLERANCE):
            seam_left = seam_right = 0
    flat = (top >= soft_top, bottom >= soft_bottom, left >= soft_left, right >= soft_right)
    top, bottom = max(top, soft_top, seam_top), max(bottom, soft_bottom, seam_bottom)
    left, right = max(left, soft_left, seam_left), max(right, soft_right, seam_right)
    # A flat or soft border that a subject's outline ends is a backdrop, kept (a border found by
    # its seams is a clip's own straight edge).
    rows = _exact_fill(pixels, top) and _exact_fill(pixels[::-1], bottom)
    cols = _exact_fill(pixels.T, left) and _exact_fill(pixels.T[::-1], right)
    top = top if top == seam_top or _is_padding(pixels, top, rows, flat[0]) else seam_top
    bottom = bottom if bottom == seam_bottom or _is_padding(pixels[::-1], bottom, rows, flat[1]) else seam_bottom
    left = left if left == seam_left or _is_padding(pixels.T, left, cols, flat[2]) else seam_left
    right = right if right == seam_right or _is_padding(pixels.T[::-1], right, cols, flat[3]) else seam_right
    return top, height - bottom, left, width - right


def _seam_depths(steps: np.ndarray, detail: np.ndarray, limit: int) -> tuple[int, int]:
    """Depths of padding cut off by two seams, one near each end, equally deep, with less detail
    outside them than between them (0, 0 when there are none). `steps[i]` is the absolute step
    between lines i and i+1, `detail` each line's detail. A clip laid over a blurred, enlarged
    copy of itself has a sharp edge along each side of it, across the whole frame, even where
    the blur keeps too much detail to tell padding by sharpness alone (a face blurred behind
    itself); a sharp pattern's own lines have as much detail on both sides."""
    n = steps.shape[0] + 1
    mean_step = cv2.reduce(steps, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    wide = cv2.reduce((steps >= SEAM_STEP).astype(np.uint8), 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    typical = float(np.median(mean_step)) + 1.0
    seams = np.flatnonzero((mean_step >= SEAM_RATIO * typical) & (wide >= SEAM_SHARE)) + 1  # depth from the start
    starts = seams[(seams >= n * MIN_BLUR_SHARE) & (seams <= limit)]
    ends = n - seams[(n - seams >= n * MIN_BLUR_SHARE) & (n - seams <= limit)]
    best, depths = 0.0, (0, 0)
    for start in starts.tolist():
        for end in ends.tolist():
            strength = float(mean_step[start - 1] + mean_step[n - end - 1])
            if abs(start - end) > n * BLUR_ASYMMETRY or strength <= best:
                continue
            outside = (float(detail[: start - 1].sum()) + float(detail[n - end + 1 :].sum())) / max(1, start + end - 2)
            if outside < SEAM_SOFTNESS * float(detail[start + 1 : n - end - 1].mean()):
                best, depths = strength, (start, end)
    return depths
