"""Fingerprinting: sampled frames in, perceptual hashes of each informative frame out.

Frames are decoded densely and averaged over short windows (`HASH_WINDOW_S`, one picture
every `HASH_STEP_S`), so that copies sampled at another phase still hash alike. Each picture is
cropped to its content (letterbox and pillarbox bars, coloured padding and blurred
backgrounds removed), dropped when it carries no information (black, flat colour, the middle of a
fade), and hashed. A picture gives several hashes, each tagged with the region it covers:

- the content region (`REGION_FRAME` when nothing was cropped, `REGION_CONTENT` when padding was);
- the content without a border of `ZOOM_BORDER_SHARE` on each side (`REGION_ZOOM`): what a copy
  cropped and scaled back up (a zoom-in that hides a logo or a frame) keeps; and without
  `DEEP_ZOOM_SHARE` of each side (`REGION_DEEP_ZOOM`), for a re-poster's crop of a fifth a side;
- for a frame whose content is much wider (or taller) than a phone screen, also its centre cut to
  9:16 (or 16:9) (`REGION_CENTRE`): what a vertical re-frame of a landscape video (or the reverse)
  keeps, so that such a copy finds its source.

Each picture is hashed with imagehash's pHash (the 8x8 lowest DCT frequencies of a 32x32 image,
thresholded at their median). The content region is also hashed mirrored left to right
(`REGION_MIRROR`) and stored, so a horizontally flipped re-upload matches the stored mirror of
its source; queries search their other regions only.

How the content changed over the last `MOTION_LAG_S` is hashed too (`REGION_MOTION` and its
mirrored, border-cropped and centre regions): on a talking head before a still backdrop the
whole picture is held for seconds, and only the change says when two videos agree. Changes only
ever match changes (see `matching.plausible`).

The pure functions (`content_box`, `frame_quality`, `hash_frame`, `hash_frames`) take numpy
arrays; `fingerprint_file` is the one that runs the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from vidtrace import settings as defaults
from vidtrace.decode import DecodedFrame, Decoding, VideoInfo, decode
from vidtrace.errors import InputError
from vidtrace.insets import find_inset
from vidtrace.phash import phash_rows
from vidtrace.settings import Settings

# OpenCV's own threads cost more CPU than they save on 128-pixel pictures; videos are decoded
# and hashed in parallel by worker processes instead.
cv2.setNumThreads(1)

#: What part of the frame a hash covers (stored with each frame hash).
REGION_FRAME = 0  # the whole frame: nothing was cropped
REGION_CONTENT = 1  # the frame with its padding (bars, coloured or blurred background) removed
REGION_CENTRE = 2  # the centre of the content cut to 9:16 (landscape) or 16:9 (portrait)
REGION_ZOOM = 3  # the centre of the content without a border (what a zoomed-in copy keeps)
REGION_MIRROR = 4  # the content region mirrored left to right (stored; never used as a query)
REGION_INSET = 5  # a smaller video shown over a host (picture-in-picture)
#: How the content changed over the last `MOTION_LAG_S` (the mean picture at an instant minus
#: the one before it): a still backdrop, a static logo or caption cancel out, and what moves (a
#: face, a mouth, a hand, a slide change) is all that is left.
REGION_MOTION = 6
REGION_MOTION_MIRROR = 7  # the same, mirrored left to right (stored; never used as a query)
REGION_MOTION_ZOOM = 8  # the change without a border of `MOTION_ZOOM_SHARE` of each side
REGION_MOTION_CENTRE = 9  # the change in the centre region (see REGION_CENTRE)
REGION_MOTION_INSET = 10  # the change in an inset (see REGION_INSET)
#: The centre of the content without `DEEP_ZOOM_SHARE` of each side (what a copy cropped by a fifth
#: on every side keeps), and its change.
REGION_DEEP_ZOOM = 11
REGION_MOTION_DEEP_ZOOM = 12
#: The largest region number (imported fingerprints are checked against it).
REGION_LAST = REGION_MOTION_DEEP_ZOOM
#: The change regions, and the picture regions each one stands for.
MOTION_REGIONS = {
    REGION_MOTION: REGION_CONTENT,
    REGION_MOTION_MIRROR: REGION_MIRROR,
    REGION_MOTION_ZOOM: REGION_ZOOM,
    REGION_MOTION_CENTRE: REGION_CENTRE,
    REGION_MOTION_INSET: REGION_INSET,
    REGION_MOTION_DEEP_ZOOM: REGION_DEEP_ZOOM,
}
#: The change is read between pictures this far apart (s): they share no frame (each is the
#: mean of `HASH_WINDOW_S`), and half a second of talking moves a face, a mouth or a hand.
MOTION_LAG_S = 0.5
#: The change is hashed this often (s): as often as the whole picture, so that a short excerpt
#: (a 3 s head or tail of a talk) still has enough changes to align.
MOTION_EVERY_S = 0.125
#: A change whose grey-level standard deviation is below this is encoding noise, not motion.
MIN_MOTION_STD = 2.0
#: The change picture is scaled to this standard deviation before hashing (grey levels around 128).
MOTION_CONTRAST = 40.0
#: The zoomed change region leaves out this share of each side: copies cropped by 10 to 20% on
#: every side (a re-poster's crop, kept at its smaller size) keep it.
MOTION_ZOOM_SHARE = 0.15
#: The deep zoom regions leave out this share of each side: a copy cropped by a fifth on every
#: side (36% of the picture kept) is too far in for the zoom regions above.
DEEP_ZOOM_SHARE = 0.2
#: The padding is found again at most this often (s): finding it costs more than a hash.
CONTENT_BOX_EVERY_S = 0.25
#: The mirrored, zoomed and centre regions are hashed at most this often (s). The whole picture
#: is hashed every `HASH_STEP_S`: excerpts cut off the grid need it; the extra regions matched
#: their edits (mirror, border crop, vertical re-frame: recall 1.00 each) at 0.25 s steps, and
#: hashing them half as often saves a third of the hashes and of the index.
EXTRA_REGIONS_EVERY_S = 0.25
#: Aspect ratio (width / height) of the centre region of a landscape frame; its inverse for portrait.
CENTRE_ASPECT = 9 / 16


@dataclass(frozen=True)
class FrameHash:
    ts_s: float
    hash: bytes
    quality: float  # grey-level standard deviation of the content region
    region: int = REGION_FRAME


@dataclass
class VideoFingerprint:
    info: VideoInfo
    frames: list[FrameHash]
    sampled_frames: int
    warnings: list[str] = field(default_factory=list)
    algorithm: str = defaults.HASH_ALGORITHM
    version: int = defaults.HASH_VERSION

    @property
    def duration_s(self) -> float:
        """The header's duration, else the last sampled instant."""
        if self.info.duration_s:
            return self.info.duration_s
        return max((f.ts_s for f in self.frames), default=0.0)


# --- padding --------------------------------------------------------------------------------


def _border_depth(lines_std: np.ndarray, lines_mean: np.ndarray, limit: int) -> int:
    """How many lines from the start of the arrays form a uniform border."""
    edge_mean = lines_mean[0]
    depth = 0
    while (
        depth < limit
        and lines_std[depth] < defaults.BORDER_STD
        and abs(lines_mean[depth] - edge_mean) < defaults.BORDER_MEAN_DELTA
    ):
        depth += 1
    return depth


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
    clip: lines from each edge whose sharpness stays below a share of the clip's sharp lines (the
    90th percentile) are padding. Such a background is centred, so both ends must agree.
    """
    n = len(sharpness)
    sharp = _percentile(sharpness, 90)
    if sharp <= 0:
        return 0, 0
    soft = sharpness < defaults.BLUR_SHARPNESS_RATIO * sharp
    depths = []
    for line in (soft, soft[::-1]):
        depth = 0
        while depth < limit and line[depth]:
            depth += 1
        depths.append(depth)
    start, end = depths
    if min(start, end) < n * defaults.MIN_BLUR_SHARE or abs(start - end) > n * defaults.BLUR_ASYMMETRY:
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
    max_rows = int(height * defaults.MAX_BORDER_SHARE)
    max_cols = int(width * defaults.MAX_BORDER_SHARE)
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
        if not _common_shape(aspect * height / max(1, height - seam_top - seam_bottom)):
            seam_top = seam_bottom = 0
    elif aspect and aspect > 1:
        seam_left, seam_right = _seam_depths(np.ascontiguousarray(across.T), col_detail, max_cols)
        if not _common_shape(aspect * (width - seam_left - seam_right) / width):
            seam_left = seam_right = 0
    top, bottom = max(top, soft_top, seam_top), max(bottom, soft_bottom, seam_bottom)
    left, right = max(left, soft_left, seam_left), max(right, soft_right, seam_right)
    return top, height - bottom, left, width - right


#: Shapes (width / height) of the clips re-posters lay over a blurred copy of themselves...
COMMON_SHAPES = (1.0, 4 / 3, 3 / 4, 5 / 4, 4 / 5, 16 / 9, 9 / 16)
#: ...within this share.
SHAPE_TOLERANCE = 0.05


def _common_shape(shape: float) -> bool:
    return any(abs(shape / common - 1) <= SHAPE_TOLERANCE for common in COMMON_SHAPES)


#: A seam is a line across which the picture steps by at least this many times the frame's
#: typical step between neighbouring lines...
SEAM_RATIO = 4.0
#: ...with a step of at least `SEAM_STEP` grey levels at this share of its pixels or more.
SEAM_SHARE = 0.3
SEAM_STEP = 6
#: ...and the padding outside the seams has at most this share of the clip's detail (blurred).
SEAM_SOFTNESS = 0.75


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
    starts = seams[(seams >= n * defaults.MIN_BLUR_SHARE) & (seams <= limit)]
    ends = n - seams[(n - seams >= n * defaults.MIN_BLUR_SHARE) & (n - seams <= limit)]
    best, depths = 0.0, (0, 0)
    for start in starts.tolist():
        for end in ends.tolist():
            strength = float(mean_step[start - 1] + mean_step[n - end - 1])
            if abs(start - end) > n * defaults.BLUR_ASYMMETRY or strength <= best:
                continue
            outside = (float(detail[: start - 1].sum()) + float(detail[n - end + 1 :].sum())) / max(1, start + end - 2)
            if outside < SEAM_SOFTNESS * float(detail[start + 1 : n - end - 1].mean()):
                best, depths = strength, (start, end)
    return depths


def centre_region(content: np.ndarray, aspect: float) -> np.ndarray | None:
    """The 9:16 centre of landscape content (16:9 band of portrait content), or None when it is
    not much smaller than the content. `aspect` is the content's real width / height."""
    height, width = content.shape
    if aspect >= 1:
        share = CENTRE_ASPECT / aspect
        if share > defaults.MAX_CENTRE_SHARE:
            return None
        keep = max(1, round(width * share))
        start = (width - keep) // 2
        return content[:, start : start + keep]
    share = aspect * CENTRE_ASPECT
    if share > defaults.MAX_CENTRE_SHARE:
        return None
    keep = max(1, round(height * share))
    start = (height - keep) // 2
    return content[start : start + keep, :]


def zoom_region(content: np.ndarray, share: float | None = None) -> np.ndarray:
    """The content without a border of `share` (default `ZOOM_BORDER_SHARE`) of each side."""
    height, width = content.shape
    share = defaults.ZOOM_BORDER_SHARE if share is None else share
    dy = int(round(height * share))
    dx = int(round(width * share))
    return content[dy : height - dy, dx : width - dx] if height > 2 * dy and width > 2 * dx else content


def frame_quality(content: np.ndarray) -> float:
    """Grey-level standard deviation: near zero for black, flat or faded frames."""
    return float(cv2.meanStdDev(content)[1][0, 0]) if content.size else 0.0


# --- picture-in-picture ---------------------------------------------------------------------

def _inset_hashes(
    stretch: list[tuple[float, np.ndarray]], before: list[tuple[float, np.ndarray]] = ()
) -> list[FrameHash]:
    """Hashes of the inset, when the stretch of (instant, picture) shows one. A stretch shorter
    than half `INSET_CHUNK_S` (a video's last seconds) is searched with the pictures `before` it."""
    if stretch and before and stretch[-1][0] - stretch[0][0] < defaults.INSET_CHUNK_S / 2:
        searched = [*before[len(stretch) :], *stretch]  # one stretch's worth, ending with this one
    else:
        searched = stretch
    # Texture, motion, brightness and detail over a stretch are as clear from 16 pictures spread
    # over it (each the mean of its 0.5 s window: every fourth of a whole stretch still covers it).
    sampled = searched[:: max(1, len(searched) // 16)]
    if len(sampled) < 2:
        return []
    box = find_inset(np.stack([m for _, m in sampled]))
    if box is None:
        return []
    top, bottom, left, right = box
    out = []
    pool = [*before, *stretch]
    times = np.array([t for t, _ in pool])
    for ts, mean in stretch:
        inset = mean[top:bottom, left:right]
        quality = frame_quality(inset)
        if quality >= defaults.MIN_FRAME_STD:
            out.append(FrameHash(ts, hash_frame(inset), round(quality, 2), REGION_INSET))
        # How the inset changed: a talking head shown small over a host is a held picture too.
        at = int(np.argmin(np.abs(times - (ts - MOTION_LAG_S))))
        changed = None
        if abs(times[at] - (ts - MOTION_LAG_S)) <= MOTION_EVERY_S / 2:
            changed = change_picture(inset, pool[at][1][top:bottom, left:right])
        if changed is not None:
            out.append(FrameHash(ts, hash_frame(changed[0]), changed[1], REGION_MOTION_INSET))
    return out


# --- the hash -------------------------------------------------------------------------------


def hash_frame(content: np.ndarray, hash_size: int = defaults.HASH_SIZE) -> bytes:
    """imagehash pHash of a grey image (hash_size**2 bits), as raw bytes.

    pHash reads a (4 * hash_size)-pixel square; the picture is reduced to it here by area
    averaging (OpenCV), which costs a tenth of the Lanczos resampling imagehash would do on the
    full picture and changes 0.1 bits in 64 on average (2 at most over 200 test textures).
    """
    side = 4 * hash_size
    if content.shape != (side, side):
        content = cv2.resize(np.ascontiguousarray(content), (side, side), interpolation=cv2.INTER_AREA)
    return phash_rows(content[None], hash_size)[0].tobytes()  # imagehash.phash, bit for bit


# --- change between pictures ---------------------------------------------------------------


def change_picture(now: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The change from `before` to `now` scaled to one contrast (grey levels around 128) and its
    spread before scaling, or None when nothing moved beyond encoding noise."""
    change = now.astype(np.float32) - before.astype(np.float32)
    spread = frame_quality(change)
    if spread < MIN_MOTION_STD:
        return None
    return np.clip(change * (MOTION_CONTRAST / spread) + 128.0, 0, 255).astype(np.uint8), round(spread, 2)


def motion_hashes(
    ts: float, mean: np.ndarray, before: np.ndarray, box: tuple[int, int, int, int], aspect: float | None
) -> list[FrameHash]:
    """Hashes of how the content changed from `before` to `mean` (both whole pictures, `box` the
    content): the change itself, mirrored, without a border, and its centre region; none when
    nothing moved beyond encoding noise. The change is scaled to one contrast, so a copy made
    darker or paler changes the same way."""
    top, bottom, left, right = box
    changed = change_picture(mean[top:bottom, left:right], before[top:bottom, left:right])
    if changed is None:
        return []
    picture, quality = changed
    out = [
        FrameHash(ts, hash_frame(picture), quality, REGION_MOTION),
        FrameHash(ts, hash_frame(np.ascontiguousarray(picture[:, ::-1])), quality, REGION_MOTION_MIRROR),
        FrameHash(ts, hash_frame(zoom_region(picture, MOTION_ZOOM_SHARE)), quality, REGION_MOTION_ZOOM),
        FrameHash(ts, hash_frame(zoom_region(picture, DEEP_ZOOM_SHARE)), quality, REGION_MOTION_DEEP_ZOOM),
    ]
    if aspect:
        height, width = mean.shape
        centre = centre_region(picture, aspect * ((right - left) / width) / ((bottom - top) / height))
        if centre is not None:
            out.append(FrameHash(ts, hash_frame(centre), quality, REGION_MOTION_CENTRE))
    return out


# --- frames ---------------------------------------------------------------------------------


def _windows(frames: Iterable[DecodedFrame], window_s: float, step_s: float):
    """(ts_s, mean picture, sharpest-instant frame) every `step_s`: the mean of the frames within
    `window_s / 2` of ts_s, and the frame nearest ts_s. A grid point whose window holds the same
    frames as the previous one (sparse input) is skipped, and no instant lies after the last frame
    (a segment never ends after the video)."""
    half = window_s / 2
    pending: list[DecodedFrame] = []
    grid: float | None = None
    last_set: tuple[int, ...] | None = None

    def emit(t: float):
        nonlocal last_set
        inside = [f for f in pending if t - half <= f.ts_s < t + half]
        key = tuple(f.index for f in inside)
        if not inside or key == last_set:
            return None
        last_set = key
        if len(inside) > 1:
            # uint16 holds the sum of up to 257 frames (a 0.5 s window at up to 514 fps)
            total = inside[0].pixels.astype(np.uint16 if len(inside) <= 257 else np.uint32)
            for f in inside[1:]:
                total += f.pixels
            mean = total.astype(np.float32) / len(inside)
        else:
            mean = inside[0].pixels
        nearest = min(inside, key=lambda f: abs(f.ts_s - t))
        # A lone frame (sparse input: key frames only) stands at its own instant.
        return (t if len(inside) > 1 else inside[0].ts_s), np.round(mean).astype(np.uint8), nearest

    for frame in frames:
        if grid is None:
            grid = frame.ts_s
        while frame.ts_s >= grid + half:
            out = emit(grid)
            if out is not None:
                yield out
            grid += step_s
            pending = [f for f in pending if f.ts_s >= grid - half]
        pending.append(frame)
    while grid is not None and pending and grid <= pending[-1].ts_s + 1e-9:  # no instant after the last frame
        out = emit(grid)
        if out is not None:
            yield out
        grid += step_s
        pending = [f for f in pending if f.ts_s >= grid - half]


def hash_frames(
    frames: Iterable[DecodedFrame], aspect: float | None = None, window_s: float = defaults.HASH_WINDOW_S,
    step_s: float = defaults.HASH_STEP_S,
) -> tuple[list[FrameHash], int]:  # fmt: skip
    """Hash the informative pictures; returns the hashes and how many frames were seen.

    Every `step_s`, the frames within `window_s / 2` are averaged and the mean picture hashed: a
    copy sampled at another phase (a trim, a new frame rate, a speed change) averages nearly the
    same frames, where single frames a fraction of a second apart can differ completely. Padding is
    found on the frame nearest the instant (sharper than the mean).

    `aspect` is the video's display width / height (the frames arrive squashed to a square); when
    it is known, pictures whose content is far from 9:16 also get a hash of their centre.
    """
    hashes: list[FrameHash] = []
    seen = 0

    def counted(items: Iterable[DecodedFrame]):
        nonlocal seen
        for item in items:
            seen += 1
            yield item

    stretch: list[tuple[float, np.ndarray]] = []  # pictures searched together for an inset
    previous: list[tuple[float, np.ndarray]] = []  # the stretch before it
    box, box_ts = (0, 0, 0, 0), float("-inf")
    extras_ts = float("-inf")  # when the mirrored, zoomed and centre regions were last hashed
    recent: list[tuple[float, np.ndarray]] = []  # pictures of the last MOTION_LAG_S, for changes
    motion_ts = float("-inf")  # when the change regions were last hashed
    for ts, mean, nearest in _windows(counted(frames), window_s, step_s):
        recent = [(t, m) for t, m in recent if t >= ts - MOTION_LAG_S - step_s / 2]
        before = recent[0][1] if recent and abs(recent[0][0] - (ts - MOTION_LAG_S)) <= step_s / 2 else None
        recent.append((ts, mean))
        if stretch and ts - stretch[0][0] >= defaults.INSET_CHUNK_S:
            hashes.extend(_inset_hashes(stretch, previous))
            stretch, previous = [], stretch
        stretch.append((round(ts, 3), mean))
        height, width = mean.shape
        if ts - box_ts >= CONTENT_BOX_EVERY_S - 1e-6:  # padding changes at cuts, not in between
            box, box_ts = content_box(nearest.pixels, aspect), ts
        top, bottom, left, right = box
        content = mean[top:bottom, left:right]
        if before is not None and ts - motion_ts >= MOTION_EVERY_S - 1e-6:
            motion_ts = ts
            hashes.extend(motion_hashes(round(ts, 3), mean, before, box, aspect))
        quality = frame_quality(content)
        if quality < defaults.MIN_FRAME_STD:
            continue
        ts = round(ts, 3)
        region = REGION_FRAME if (top, bottom, left, right) == (0, height, 0, width) else REGION_CONTENT
        hashes.append(FrameHash(ts_s=ts, hash=hash_frame(content), quality=round(quality, 2), region=region))
        if ts - extras_ts < EXTRA_REGIONS_EVERY_S - 1e-6:
            continue
        extras_ts = ts
        hashes.append(FrameHash(ts, hash_frame(np.ascontiguousarray(content[:, ::-1])), round(quality, 2), REGION_MIRROR))
        zoom = zoom_region(content)
        hashes.append(FrameHash(ts, hash_frame(zoom), round(frame_quality(zoom), 2), REGION_ZOOM))
        deep = zoom_region(content, DEEP_ZOOM_SHARE)
        hashes.append(FrameHash(ts, hash_frame(deep), round(frame_quality(deep), 2), REGION_DEEP_ZOOM))
        if aspect:
            content_aspect = aspect * ((right - left) / width) / ((bottom - top) / height)
            centre = centre_region(content, content_aspect)
            if centre is not None and frame_quality(centre) >= defaults.MIN_FRAME_STD:
                hashes.append(FrameHash(ts, hash_frame(centre), round(frame_quality(centre), 2), REGION_CENTRE))
    hashes.extend(_inset_hashes(stretch, previous))
    hashes.sort(key=lambda h: (h.ts_s, h.region))
    return hashes, seen


def _display_aspect(info: VideoInfo) -> float | None:
    return info.width / info.height if info.width and info.height else None


def fingerprint_file(path: Path, settings: Settings, on_frame=None) -> VideoFingerprint:
    """Decode and hash one file. Raises InputError when the file yields nothing usable.
    `on_frame(ts_s, duration_s)`, when given, hears of each decoded frame (progress)."""
    path = Path(path)
    state = Decoding(path)
    frames = decode(path, settings, state)
    if on_frame is not None:
        frames = _reporting(frames, state, on_frame)
    # The stream header is parsed before the first frame arrives: read the aspect lazily.
    first = next(frames, None)
    if first is None:
        hashes, seen = [], 0
    else:
        hashes, seen = hash_frames(_chain(first, frames), _display_aspect(state.info))
    if not hashes:
        raise InputError(path, f"no informative frames (all {seen} sampled frames are black or flat)")
    return VideoFingerprint(info=state.info, frames=hashes, sampled_frames=seen, warnings=state.warnings)


def _reporting(frames: Iterable[DecodedFrame], state: Decoding, on_frame) -> Iterable[DecodedFrame]:
    for frame in frames:
        on_frame(frame.ts_s, state.info.duration_s)
        yield frame


def _chain(first: DecodedFrame, rest: Iterable[DecodedFrame]) -> Iterable[DecodedFrame]:
    yield first
    yield from rest
