"""What is hashed in one picture: the regions cut from it, the hash, and the change from the
picture before it. Pure: numpy arrays in, `FrameHash` values out.

The regions (`REGION_*` in `vidtrace.spec`): the content, mirrored, without a border
(`zoom_region`), its centre cut to a phone's or a feed's shape (`centre_regions`), an inset (a smaller video
shown over a host), how each of those changed over the last `MOTION_LAG_S`, and the change within
the box where a stretch's pictures moved (`focus_box`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidtrace.insets import inset_boxes
from vidtrace.padding import content_box
from vidtrace.phash import phash_rows
from vidtrace.spec import (
    CENTRE_ASPECT,
    DEEP_ZOOM_SHARE,
    FOCUS_BLUR_CELLS,
    FOCUS_FLOOR_PERCENTILE,
    FOCUS_GRID,
    FOCUS_MAX_SHARE,
    FOCUS_MIDDLE,
    FOCUS_MIN_PX,
    FOCUS_SPAN,
    HASH_SIZE,
    INSET_CHUNK_S,
    INSET_MIN_CONTENT_PX,
    INSET_SEARCH_PICTURES,
    MAX_CENTRE_SHARE,
    MIN_FRAME_STD,
    MIN_MOTION_STD,
    MOTION_CONTRAST,
    MOTION_EVERY_S,
    MOTION_LAG_S,
    MOTION_MID_GREY,
    MOTION_ZOOM_SHARE,
    QUALITY_DIGITS,
    REGION_FRAME,
    REGION_INSET,
    REGION_MOTION,
    REGION_MOTION_CENTRE,
    REGION_MOTION_DEEP_ZOOM,
    REGION_MOTION_FOCUS,
    REGION_MOTION_INSET,
    REGION_MOTION_MIRROR,
    REGION_MOTION_ZOOM,
    SQUARE_ASPECT,
    ZOOM_BORDER_SHARE,
)


@dataclass(frozen=True)
class FrameHash:
    ts_s: float
    hash: bytes
    quality: float  # grey-level standard deviation of the content region
    region: int = REGION_FRAME


# --- the hash -------------------------------------------------------------------------------


def hash_frame(content: np.ndarray, hash_size: int = HASH_SIZE) -> bytes:
    """imagehash pHash of a grey image (hash_size**2 bits), as raw bytes.

    pHash reads a (4 * hash_size)-pixel square; the picture is reduced to it here by area
    averaging (OpenCV), which costs a tenth of the Lanczos resampling imagehash would do on the
    full picture and changes 0.1 bits in 64 on average (2 at most over 200 test textures).
    """
    return hash_pictures([content], hash_size)[0]


def hash_pictures(pictures: Sequence[np.ndarray], hash_size: int = HASH_SIZE) -> list[bytes]:
    """`hash_frame` of each picture, the pHash of all of them computed at once (a quarter of the
    cost per picture of one at a time, bit for bit the same)."""
    if not pictures:
        return []
    side = 4 * hash_size
    squares = np.empty((len(pictures), side, side), dtype=np.uint8)
    for k, content in enumerate(pictures):
        squares[k] = (
            content
            if content.shape == (side, side)
            else cv2.resize(np.ascontiguousarray(content), (side, side), interpolation=cv2.INTER_AREA)
        )
    return [row.tobytes() for row in phash_rows(squares, hash_size)]


def hashed(entries: Sequence[tuple[float, np.ndarray, float, int]]) -> list[FrameHash]:
    """The `FrameHash` of each (instant, picture, quality, region), the pictures hashed at once
    (`hash_pictures`)."""
    codes = hash_pictures([picture for _, picture, _, _ in entries])
    return [FrameHash(ts, code, quality, region) for (ts, _, quality, region), code in zip(entries, codes)]


def frame_quality(content: np.ndarray) -> float:
    """Grey-level standard deviation: near zero for black, flat or faded frames."""
    return float(cv2.meanStdDev(content)[1][0, 0]) if content.size else 0.0


def quality_of(picture: np.ndarray) -> float:
    """`frame_quality` as stored with a hash."""
    return round(frame_quality(picture), QUALITY_DIGITS)


# --- regions of the content -----------------------------------------------------------------


def zoom_region(content: np.ndarray, share: float | None = None) -> np.ndarray:
    """The content without a border of `share` (default `ZOOM_BORDER_SHARE`) of each side."""
    height, width = content.shape
    share = ZOOM_BORDER_SHARE if share is None else share
    dy = round(height * share)
    dx = round(width * share)
    return content[dy : height - dy, dx : width - dx] if height > 2 * dy and width > 2 * dx else content


def centre_regions(content: np.ndarray, aspect: float) -> list[np.ndarray]:
    """The 9:16 centre of landscape content; the 16:9 band and the centre square of portrait
    content. Each only when it is much smaller than the content (`MAX_CENTRE_SHARE`). `aspect` is
    the content's real width / height."""
    height, width = content.shape
    if aspect >= 1:
        share = CENTRE_ASPECT / aspect
        if share > MAX_CENTRE_SHARE:
            return []
        keep = max(1, round(width * share))
        start = (width - keep) // 2
        return [content[:, start : start + keep]]
    out = []
    for shape in (1 / CENTRE_ASPECT, SQUARE_ASPECT):
        share = aspect / shape
        if share <= MAX_CENTRE_SHARE:
            keep = max(1, round(height * share))
            start = (height - keep) // 2
            out.append(content[start : start + keep, :])
    return out


# --- picture-in-picture ---------------------------------------------------------------------


def inset_hashes(
    stretch: list[tuple[float, np.ndarray]],
    before: Sequence[tuple[float, np.ndarray]] = (),
    aspect: float | None = None,
) -> list[FrameHash]:
    """Hashes of the inset, when the stretch of (instant, picture) shows one (`aspect`: the
    pictures' display width / height, when known). A stretch shorter than half `INSET_CHUNK_S`
    (a video's last seconds) is searched with the pictures `before` it. An inset with padding of
    its own (a letterboxed clip shown small) is also hashed without it, as its source is stored
    (its picture and its change);
    an inset one of whose sides barely shows is hashed in both boxes `inset_boxes` gives."""
    if stretch and before and stretch[-1][0] - stretch[0][0] < INSET_CHUNK_S / 2:
        searched = [*before[len(stretch) :], *stretch]  # one stretch's worth, ending with this one
    else:
        searched = stretch
    sampled = searched[:: max(1, len(searched) // INSET_SEARCH_PICTURES)]
    if len(sampled) < 2:
        return []
    pool = [*before, *stretch]
    times = np.array([t for t, _ in pool])
    entries: list[tuple[float, np.ndarray, float, int]] = []  # (instant, picture, quality, region)
    for top, bottom, left, right in inset_boxes(np.stack([m for _, m in sampled]), aspect):
        for ts, mean in stretch:
            inset = mean[top:bottom, left:right]
            # An inset with padding of its own (a letterboxed clip shown small): its content, as
            # its source is stored, when that is big enough to hash.
            y0, y1, x0, x1 = content_box(inset)
            padded = (y0, y1, x0, x1) != (0, bottom - top, 0, right - left) and min(y1 - y0, x1 - x0) >= (
                INSET_MIN_CONTENT_PX
            )
            quality = frame_quality(inset)
            if quality >= MIN_FRAME_STD:
                entries.append((ts, inset, round(quality, QUALITY_DIGITS), REGION_INSET))
                if padded:
                    content = inset[y0:y1, x0:x1]
                    inner_quality = frame_quality(content)
                    if inner_quality >= MIN_FRAME_STD:
                        entries.append((ts, content, round(inner_quality, QUALITY_DIGITS), REGION_INSET))
            # How the inset changed: a talking head shown small over a host is a held picture too.
            # With padding of its own, also how its content changed (its source's change is of its
            # content: the padding's share of the picture would shift every line of it).
            at = int(np.argmin(np.abs(times - (ts - MOTION_LAG_S))))
            if abs(times[at] - (ts - MOTION_LAG_S)) > MOTION_EVERY_S / 2:
                continue
            before_inset = pool[at][1][top:bottom, left:right]
            changes = [change_picture(inset, before_inset)]
            if padded:
                changes.append(change_picture(inset[y0:y1, x0:x1], before_inset[y0:y1, x0:x1]))
            for changed in changes:
                if changed is not None:
                    entries.append((ts, changed[0], changed[1], REGION_MOTION_INSET))
    return hashed(entries)


# --- change between pictures ---------------------------------------------------------------


def change_picture(now: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The change from `before` to `now` scaled to one contrast (grey levels around `MOTION_MID_GREY`) and its
    spread before scaling, or None when nothing moved beyond encoding noise."""
    change = now.astype(np.float32) - before.astype(np.float32)
    spread = frame_quality(change)
    if spread < MIN_MOTION_STD:
        return None
    picture = np.clip(change * (MOTION_CONTRAST / spread) + MOTION_MID_GREY, 0, 255).astype(np.uint8)
    return picture, round(spread, QUALITY_DIGITS)


def motion_hashes(
    ts: float, mean: np.ndarray, before: np.ndarray, box: tuple[int, int, int, int], aspect: float | None
) -> list[FrameHash]:
    """Hashes of how the content changed from `before` to `mean` (both whole pictures, `box` the
    content, `aspect` its display width / height when known): the change itself, mirrored, without
    a border, and its centre region; none when nothing moved beyond encoding noise. The change is
    scaled to one contrast, so a copy made darker or paler changes the same way."""
    top, bottom, left, right = box
    changed = change_picture(mean[top:bottom, left:right], before[top:bottom, left:right])
    if changed is None:
        return []
    picture, quality = changed
    entries = [
        (ts, picture, quality, REGION_MOTION),
        (ts, np.ascontiguousarray(picture[:, ::-1]), quality, REGION_MOTION_MIRROR),
        (ts, zoom_region(picture, MOTION_ZOOM_SHARE), quality, REGION_MOTION_ZOOM),
        (ts, zoom_region(picture, DEEP_ZOOM_SHARE), quality, REGION_MOTION_DEEP_ZOOM),
    ]
    if aspect:
        for centre in centre_regions(picture, aspect):
            entries.append((ts, centre, quality, REGION_MOTION_CENTRE))
    return hashed(entries)


# --- where the pictures move ----------------------------------------------------------------

#: A change to hash in a focus box: (instant, picture, picture `MOTION_LAG_S` before, content box
#: (top, bottom, left, right), the content's display width / height or None).
Moved = tuple[float, np.ndarray, np.ndarray, tuple[int, int, int, int], float | None]


def focus_box(changes: Sequence[np.ndarray], aspect: float | None) -> tuple[float, float, float, float] | None:
    """Where the content moved over a stretch, as shares of the content (top, bottom, left, right),
    or None when nothing moved or the motion fills it (`FOCUS_MAX_SHARE`). `changes` are the
    content's changes (any size: each is read on a grid of the content); `aspect` the content's
    display width / height (None: as the pictures are).

    The box is a square in display proportions, centred on the median of the strongest motion and
    `FOCUS_SPAN` times as wide as its middle: it depends only on where and how far the picture
    moves, so a copy cropped around the motion, at any size, finds the same box within it."""
    if not changes:
        return None
    energy = np.zeros((FOCUS_GRID, FOCUS_GRID), dtype=np.float32)
    for change in changes:
        energy += cv2.resize(np.abs(change), (FOCUS_GRID, FOCUS_GRID), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(energy, (0, 0), FOCUS_BLUR_CELLS)
    strong = np.square(np.clip(blurred - np.percentile(blurred, FOCUS_FLOOR_PERCENTILE), 0, None))
    if not strong.sum() > 0:
        return None
    (middle_y, spread_y), (middle_x, spread_x) = _middle(strong.sum(axis=1)), _middle(strong.sum(axis=0))
    aspect = aspect or 1.0
    side = FOCUS_SPAN * max(spread_y, spread_x * aspect)  # in content heights
    top, bottom = max(0.0, middle_y - side / 2), min(1.0, middle_y + side / 2)
    left, right = max(0.0, middle_x - side / aspect / 2), min(1.0, middle_x + side / aspect / 2)
    if bottom - top >= FOCUS_MAX_SHARE and right - left >= FOCUS_MAX_SHARE:
        return None
    return top, bottom, left, right


def _middle(profile: np.ndarray) -> tuple[float, float]:
    """The median of a profile and the width of its middle (`FOCUS_MIDDLE` each side of it), as
    shares of its length. Each cell's weight is spread evenly over it, so that a profile read
    backwards (a mirrored picture) gives the mirrored median."""
    cumulative = np.concatenate([[0.0], np.cumsum(profile, dtype=np.float64)])  # at each cell's edges
    cumulative /= cumulative[-1]
    low, median, high = np.interp([FOCUS_MIDDLE, 0.5, 1 - FOCUS_MIDDLE], cumulative, np.arange(len(profile) + 1))
    return float(median) / len(profile), float(high - low) / len(profile)


def focus_hashes(moved: Sequence[Moved], around: Sequence[Moved] = ()) -> list[FrameHash]:
    """Hashes of the change within the focus box of a stretch (`REGION_MOTION_FOCUS`), at each of
    its instants that moved beyond encoding noise. The box is found over the stretch and `around`
    it (a short last stretch is read with the one before)."""
    if not moved:
        return []
    found = [*around, *moved]
    aspects = [aspect for *_, aspect in found if aspect]
    box = focus_box(
        [
            mean[y0:y1, x0:x1].astype(np.float32) - before[y0:y1, x0:x1]
            for _, mean, before, (y0, y1, x0, x1), _ in found
        ],
        float(np.median(aspects)) if aspects else None,
    )
    if box is None:
        return []
    entries = []
    for ts, mean, before, (top, bottom, left, right), _ in moved:
        height, width = bottom - top, right - left
        y0, y1 = top + box[0] * height, top + box[1] * height
        x0, x1 = left + box[2] * width, left + box[3] * width
        if min(y1 - y0, x1 - x0) < FOCUS_MIN_PX:
            continue
        size = (round(x1 - x0), round(y1 - y0))
        changed = change_picture(_cut(mean, y0, y1, x0, x1, size), _cut(before, y0, y1, x0, x1, size))
        if changed is not None:
            entries.append((ts, changed[0], changed[1], REGION_MOTION_FOCUS))
    return hashed(entries)


def _cut(picture: np.ndarray, y0: float, y1: float, x0: float, x1: float, size: tuple[int, int]) -> np.ndarray:
    """The part of a picture between fractional bounds (pixel edges), resampled to `size` (width,
    height; about the part's own size): a box found to a fraction of a pixel is cut there, so a
    copy at another scale or flipped cuts the same part (a change a few pixels wide moves by whole
    bits when its box is rounded to the pixel)."""
    step_x, step_y = (x1 - x0) / size[0], (y1 - y0) / size[1]
    inverse = np.array([[step_x, 0.0, x0 + step_x / 2 - 0.5], [0.0, step_y, y0 + step_y / 2 - 0.5]])
    return cv2.warpAffine(
        picture.astype(np.float32), inverse, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
