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
  9:16 (or 16:9, and for a vertical video its centre square too) (`REGION_CENTRE`): what a
  vertical re-frame of a landscape video (or the reverse, or a feed's square crop) keeps, so that
  such a copy finds its source.

Each picture is hashed with imagehash's pHash (the 8x8 lowest DCT frequencies of a 32x32 image,
thresholded at their median). The content region is also hashed mirrored left to right
(`REGION_MIRROR`) and stored, so a horizontally flipped re-upload matches the stored mirror of
its source; a query's own mirror searches the stored crops only (`region_pairs.MIRRORS`), so a
copy both flipped and cropped finds its source whichever of the two arrives first.

How the content changed over the last `MOTION_LAG_S` is hashed too (`REGION_MOTION` and its
mirrored, border-cropped and centre regions): on a talking head before a still backdrop the
whole picture is held for seconds, and only the change says when two videos agree. Changes only
ever match changes (see `matching.plausible`). The change is also hashed within the box where the
pictures of each stretch of `INSET_CHUNK_S` moved (`REGION_MOTION_FOCUS`, `regions.focus_box`): a
copy cropped around a face, by any amount, finds the same box and the same change in it.

Every constant this depends on is the specification in `vidtrace.spec`. Padding is found in
`vidtrace.padding`, the regions of one picture cut and hashed in `vidtrace.regions`; here the
pictures over time: `hash_frames` (pure: decoded frames in) and `fingerprint_file`, the one that
runs the decoder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidtrace.decode import DecodedFrame, Decoding, VideoInfo, decode
from vidtrace.errors import InputError
from vidtrace.insets import find_inset  # noqa: F401  (re-exported)
from vidtrace.padding import _percentile, content_box  # noqa: F401  (_percentile: re-exported)
from vidtrace.regions import (  # noqa: F401  (re-exported: what fingerprints are made of)
    FrameHash,
    Moved,
    centre_regions,
    change_picture,
    focus_hashes,
    frame_quality,
    hash_frame,
    hash_pictures,
    hashed,
    inset_hashes,
    motion_hashes,
    quality_of,
    zoom_region,
)
from vidtrace.settings import Settings
from vidtrace.spec import (  # noqa: F401  (the REGION_* names are re-exported: stored with each hash)
    CONTENT_BOX_EVERY_S,
    DEEP_ZOOM_SHARE,
    EXTRA_REGIONS_EVERY_S,
    HASH_ALGORITHM,
    HASH_STEP_S,
    HASH_VERSION,
    HASH_WINDOW_S,
    INSET_CHUNK_S,
    MIN_FRAME_STD,
    MOTION_EVERY_S,
    MOTION_LAG_S,
    MOTION_REGIONS,
    QUALITY_DIGITS,
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_DEEP_ZOOM,
    REGION_FRAME,
    REGION_INSET,
    REGION_LAST,
    REGION_MIRROR,
    REGION_MOTION,
    REGION_MOTION_CENTRE,
    REGION_MOTION_DEEP_ZOOM,
    REGION_MOTION_FOCUS,
    REGION_MOTION_INSET,
    REGION_MOTION_MIRROR,
    REGION_MOTION_ZOOM,
    REGION_ZOOM,
    TS_DIGITS,
)

# OpenCV's own threads cost more CPU than they save on 128-pixel pictures; videos are decoded
# and hashed in parallel by worker processes instead.
cv2.setNumThreads(1)

#: Instants on the hashing grid are compared within this (s): repeated float steps drift.
_GRID_SLACK_S = 1e-6
#: A uint16 sum holds up to this many frames of 255 (a 0.5 s window at up to 514 fps).
_UINT16_SUM_FRAMES = 65535 // 255


@dataclass
class VideoFingerprint:
    info: VideoInfo
    frames: list[FrameHash]
    sampled_frames: int
    warnings: list[str] = field(default_factory=list)
    algorithm: str = HASH_ALGORITHM
    version: int = HASH_VERSION

    @property
    def duration_s(self) -> float:
        """The header's duration, else the last sampled instant."""
        if self.info.duration_s:
            return self.info.duration_s
        return max((f.ts_s for f in self.frames), default=0.0)


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
            total: np.ndarray = inside[0].pixels.astype(np.uint16 if len(inside) <= _UINT16_SUM_FRAMES else np.uint32)
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
    frames: Iterable[DecodedFrame], aspect: float | None = None, window_s: float = HASH_WINDOW_S,
    step_s: float = HASH_STEP_S,
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
    moved: list[Moved] = []  # the stretch's changes, for its focus box
    moved_before: list[Moved] = []
    box, box_ts = (0, 0, 0, 0), float("-inf")
    extras_ts = float("-inf")  # when the mirrored, zoomed and centre regions were last hashed
    recent: list[tuple[float, np.ndarray]] = []  # pictures of the last MOTION_LAG_S, for changes
    motion_ts = float("-inf")  # when the change regions were last hashed
    for ts, mean, nearest in _windows(counted(frames), window_s, step_s):
        recent = [(t, m) for t, m in recent if t >= ts - MOTION_LAG_S - step_s / 2]
        before = recent[0][1] if recent and abs(recent[0][0] - (ts - MOTION_LAG_S)) <= step_s / 2 else None
        recent.append((ts, mean))
        if stretch and ts - stretch[0][0] >= INSET_CHUNK_S:
            hashes.extend(inset_hashes(stretch, previous, aspect))
            hashes.extend(focus_hashes(moved))
            stretch, previous = [], stretch
            moved, moved_before = [], moved
        stretch.append((round(ts, TS_DIGITS), mean))
        height, width = mean.shape
        if ts - box_ts >= CONTENT_BOX_EVERY_S - _GRID_SLACK_S:  # padding changes at cuts, not in between
            box, box_ts = content_box(nearest.pixels, aspect), ts
        top, bottom, left, right = box
        content = mean[top:bottom, left:right]
        content_aspect = aspect * ((right - left) / width) / ((bottom - top) / height) if aspect else None
        if before is not None and ts - motion_ts >= MOTION_EVERY_S - _GRID_SLACK_S:
            motion_ts = ts
            hashes.extend(motion_hashes(round(ts, TS_DIGITS), mean, before, box, content_aspect))
            moved.append((round(ts, TS_DIGITS), mean, before, box, content_aspect))
        quality = frame_quality(content)
        if quality < MIN_FRAME_STD:
            continue
        ts = round(ts, TS_DIGITS)
        region = REGION_FRAME if (top, bottom, left, right) == (0, height, 0, width) else REGION_CONTENT
        stored_quality = round(quality, QUALITY_DIGITS)
        entries = [(ts, content, stored_quality, region)]  # (instant, picture, quality, region)
        if ts - extras_ts >= EXTRA_REGIONS_EVERY_S - _GRID_SLACK_S:
            extras_ts = ts
            entries.append((ts, np.ascontiguousarray(content[:, ::-1]), stored_quality, REGION_MIRROR))
            zoom = zoom_region(content)
            entries.append((ts, zoom, quality_of(zoom), REGION_ZOOM))
            deep = zoom_region(content, DEEP_ZOOM_SHARE)
            entries.append((ts, deep, quality_of(deep), REGION_DEEP_ZOOM))
            if content_aspect:
                for centre in centre_regions(content, content_aspect):
                    if frame_quality(centre) >= MIN_FRAME_STD:
                        entries.append((ts, centre, quality_of(centre), REGION_CENTRE))
        hashes.extend(hashed(entries))
    hashes.extend(inset_hashes(stretch, previous, aspect))
    short = bool(moved) and moved[-1][0] - moved[0][0] < INSET_CHUNK_S / 2
    hashes.extend(focus_hashes(moved, moved_before if short else ()))
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
    hashes: list[FrameHash]
    if first is None:
        hashes, seen = [], 0
    else:
        hashes, seen = hash_frames(_chain(first, frames), _display_aspect(state.info))
    if not hashes:
        raise InputError(path, f"no informative frames (all {seen} sampled frames are black or flat)")
    return VideoFingerprint(info=state.info, frames=hashes, sampled_frames=seen, warnings=state.warnings)


def _reporting(frames: Iterable[DecodedFrame], state: Decoding, on_frame) -> Iterator[DecodedFrame]:
    for frame in frames:
        on_frame(frame.ts_s, state.info.duration_s)
        yield frame


def _chain(first: DecodedFrame, rest: Iterable[DecodedFrame]) -> Iterable[DecodedFrame]:
    yield first
    yield from rest
