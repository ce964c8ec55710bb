"""Search and align: a video's frame hashes against the index, grouped into per-video matches.

Every stored video also has hashes of its mirrored content (`REGION_MIRROR`), so a horizontally
flipped copy hits them; queries search their other hashes only. A hit carries the edits that
explain it: "mirrored" when it landed on a mirrored hash, "padded" when exactly one side had
padding removed, "cropped" when one side is the zoomed-in region of the other, "reframed" when one
side is the 9:16 (16:9) centre of the other, "picture in picture" when one side is an inset
over another video. Alignment keeps the edits most of a segment's frames share, plus the speed
change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
from sqlalchemy.orm import Session

from vidtrace.align import Alignment, FrameHit, align
from vidtrace.fingerprint import (
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_FRAME,
    REGION_INSET,
    REGION_MIRROR,
    REGION_ZOOM,
)
from vidtrace.hashes import hamming_rows, self_echo_extents, self_echo_spans, to_matrix
from vidtrace.index import FrameIndex
from vidtrace.settings import Settings
from vidtrace.store import repo

MIRRORED = "mirrored"
PADDED = "padded"
CROPPED = "cropped"
REFRAMED = "reframed"
INSET = "picture in picture"
_WHOLE = (REGION_FRAME, REGION_CONTENT, REGION_MIRROR)


@dataclass(frozen=True)
class VideoMatch:
    """The query (one side) matches stored video `video_id`; segments are seen from the query."""

    video_id: int
    alignment: Alignment


def region_edits(q_region: int | None, r_region: int, mirrored: bool) -> frozenset[str]:
    """The edits that explain a hit between a query region and a reference region (None: unknown)."""
    edits = {MIRRORED} if mirrored else set()
    if r_region == REGION_MIRROR:  # the mirrored whole content: its own padding is unknown
        return frozenset(edits | {MIRRORED})
    pair = {q_region, r_region}
    if REGION_ZOOM in pair and len(pair) > 1:
        edits.add(CROPPED)
    if REGION_CENTRE in pair and len(pair) > 1:
        edits.add(REFRAMED)
    if REGION_INSET in pair and len(pair) > 1:
        edits.add(INSET)
    if pair == {REGION_FRAME, REGION_CONTENT}:
        edits.add(PADDED)
    return frozenset(edits)


def plausible(q_region: int | None, r_region: int) -> bool:
    """Region pairs worth a hit: at least one side whole (a crop of one matches the other whole),
    or the same crop of both (two whole frames that differ outside it: a logo, a caption)."""
    return q_region is None or q_region in _WHOLE or r_region in _WHOLE or q_region == r_region


def held_spans(ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings) -> np.ndarray:
    """How long each of a video's hashes is held: the span of its near duplicates around it in
    the same video and region (seconds; 0 for moving content)."""
    spans = np.zeros(len(ts_s))
    groups = np.asarray(regions if regions is not None else [0] * len(ts_s))
    times = np.asarray(ts_s, dtype=np.float64)
    window = settings.max_echo_span_s + settings.offset_tolerance_s
    for region in np.unique(groups):
        rows = np.flatnonzero(groups == region)
        rows = rows[np.argsort(times[rows], kind="stable")]
        spans[rows] = self_echo_spans(times[rows], codes[rows], settings.max_distance_bits, window)
    return spans


def held_changes(ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings) -> np.ndarray:
    """Instants where a video changes from one held picture to another (a slideshow's slide
    changes), in seconds, sorted. At such an instant the whole pictures `_CHANGE_REACH_S` before
    and after are both held over `max_echo_span_s`, differ by more than `max_distance_bits`, and
    their near duplicates stay on their own side of it (give or take the pictures that blend the
    two): content drifting under a static logo has no such instant. A run of them is one change,
    at its middle."""
    times = np.asarray(ts_s, dtype=np.float64)
    whole = np.arange(len(times)) if regions is None else np.flatnonzero(np.isin(np.asarray(regions), _PRIMARY))
    if len(whole) < 3:
        return np.zeros(0)
    whole = whole[np.argsort(times[whole], kind="stable")]
    t, c = times[whole], codes[whole]
    window = settings.max_echo_span_s + settings.offset_tolerance_s
    first, last = self_echo_extents(t, c, settings.max_distance_bits, window)
    held = t[last] - t[first] > settings.max_echo_span_s
    slack = settings.hash_interval_s / 2
    before = np.clip(np.searchsorted(t, t - _CHANGE_REACH_S - slack), 0, len(t) - 1)
    after = np.clip(np.searchsorted(t, t + _CHANGE_REACH_S - slack), 0, len(t) - 1)
    present = (np.abs(t[before] - t + _CHANGE_REACH_S) <= slack) & (np.abs(t[after] - t - _CHANGE_REACH_S) <= slack)
    apart = hamming_rows(c[before], c[after]) > settings.max_distance_bits
    blend = _CHANGE_REACH_S / 2 + slack  # a picture is the mean of frames within half the reach of it
    separate = (t[last[before]] <= t + blend) & (t[first[after]] >= t - blend)
    at = present & held[before] & held[after] & apart & separate
    edges = np.diff(np.concatenate([[0], at.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return (t[starts] + t[stops]) / 2


def _change_marks(ts_s: Sequence[float], changes: np.ndarray, settings: Settings) -> list[float | None]:
    """For each instant, the change within a picture and a half of it (the nearest), or None: two
    copies' pictures of one change may lie a picture apart."""
    if len(changes) == 0:
        return [None] * len(ts_s)
    t = np.asarray(ts_s, dtype=np.float64)
    k = np.searchsorted(changes, t)
    before, after = changes[np.clip(k - 1, 0, len(changes) - 1)], changes[np.clip(k, 0, len(changes) - 1)]
    nearest = np.where(np.abs(before - t) <= np.abs(after - t), before, after)
    close = np.abs(nearest - t) <= 1.5 * settings.hash_interval_s
    return [float(c) if ok else None for c, ok in zip(nearest.tolist(), close.tolist())]


#: A change between held pictures is read between the whole pictures this long before and after
#: an instant: each picture is the mean of this much video, so they hold no frame in common.
_CHANGE_REACH_S = 0.5
_PRIMARY = (REGION_FRAME, REGION_CONTENT)


def _stored_holds(
    session: Session, video_id: int, settings: Settings, changes: bool
) -> tuple[dict[tuple[float, int], float], np.ndarray]:
    """(ts, region) -> how long that stored picture is held in its video; and, when `changes`,
    its held changes (else none: they only count where the query has some)."""
    ts, hashes, regions = repo.frames_of_video(session, video_id)
    if not hashes:
        return {}, np.zeros(0)
    codes = to_matrix(hashes, len(hashes[0]))
    spans = held_spans(ts, codes, regions, settings)
    held = {(t, r): float(s) for t, r, s in zip(ts, regions, spans.tolist())}
    found = changes and bool((spans > settings.max_echo_span_s).any())
    return held, held_changes(ts, codes, regions, settings) if found else np.zeros(0)


def find_matches(
    session: Session,
    index: FrameIndex,
    ts_s: Sequence[float],
    hashes: Sequence[bytes],
    duration_s: float,
    settings: Settings,
    accept: Callable[[repo.VideoRecord], bool] = lambda video: True,
    regions: Sequence[int] | None = None,
) -> list[VideoMatch]:
    """Stored videos that share aligned segments with the query's frames, best first.

    `regions` are the query hashes' regions (`fingerprint.REGION_*`), when known.
    """
    if not hashes:
        return []
    rows_used = [i for i in range(len(hashes)) if regions is None or regions[i] != REGION_MIRROR]
    codes = to_matrix([hashes[i] for i in rows_used], len(hashes[0]))
    used_ts = [ts_s[i] for i in rows_used]
    used_regions = [regions[i] for i in rows_used] if regions else None
    q_held = held_spans(used_ts, codes, used_regions, settings)
    # A change between held pictures needs held pictures: most videos have none to look for.
    held_any = bool((q_held > settings.max_echo_span_s).any())
    q_changes = held_changes(used_ts, codes, used_regions, settings) if held_any else np.zeros(0)
    q_marks = _change_marks(used_ts, q_changes, settings)
    rows, ids, dists = index.search_arrays(codes, settings.max_distance_bits)
    refs = repo.frame_refs(session, ids.tolist())
    by_video: dict[int, list[tuple[FrameHit, int]]] = defaultdict(list)
    for row, frame_id, dist in zip(rows.tolist(), ids.tolist(), dists.tolist()):
        ref = refs.get(frame_id)
        if ref is None:
            continue
        held, change = float(q_held[row]), q_marks[row]
        row = rows_used[row]
        q_region = regions[row] if regions is not None else None
        if not plausible(q_region, ref.region):
            continue
        mirrored = ref.region == REGION_MIRROR
        edits = region_edits(q_region, ref.region, mirrored)
        by_video[ref.video_id].append((FrameHit(ts_s[row], ref.ts_s, dist, edits, held, change), ref.region))
    videos = repo.videos_by_id(session, by_video)
    found = []
    for video_id, region_hits in by_video.items():
        video = videos.get(video_id)
        if video is None or video.status != "ok" or not accept(video):
            continue
        if len({hit.q_ts for hit, _ in region_hits}) < settings.min_segment_frames:
            continue  # too few to align, whatever they are
        alignment = align([hit for hit, _ in region_hits], duration_s, video.duration_s or 0.0, settings)
        if alignment is None:
            continue
        # The stored side's held pictures (a static logo under different content) weigh nothing
        # either, and a change between held pictures must be one in both videos: read the frames
        # of a candidate that aligns, and align again with both sides' holds.
        stored_held, stored_changes = _stored_holds(session, video_id, settings, changes=len(q_changes) > 0)
        r_marks = _change_marks([hit.r_ts for hit, _ in region_hits], stored_changes, settings)
        frame_hits = [
            replace(
                hit, held_s=max(hit.held_s, stored_held.get((hit.r_ts, region), 0.0)),
                change_s=hit.change_s if r_mark is not None else None,
            )
            for (hit, region), r_mark in zip(region_hits, r_marks)
        ]  # fmt: skip
        alignment = align(frame_hits, duration_s, video.duration_s or 0.0, settings)
        if alignment is not None:
            found.append(VideoMatch(video_id, alignment))
    found.sort(key=lambda m: (-m.alignment.score, -m.alignment.matched_s, m.video_id))
    return found
