"""Search and align: a video's frame hashes against the index, grouped into per-video matches.

Every stored video also has hashes of its mirrored content (`REGION_MIRROR`), so a horizontally
flipped copy hits them; queries search their other hashes only. A hit carries the edits that
explain it: "mirrored" when it landed on a mirrored hash, "padded" when exactly one side had
padding removed, "cropped" when one side is the zoomed-in region of the other, "reframed" when one
side is the 9:16 (16:9) centre of the other. Alignment keeps the edits most of a segment's frames
share, plus the speed change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from sqlalchemy.orm import Session

from vidtrace.align import Alignment, FrameHit, align
from vidtrace.fingerprint import REGION_CENTRE, REGION_CONTENT, REGION_FRAME, REGION_MIRROR, REGION_ZOOM
from vidtrace.hashes import to_matrix
from vidtrace.index import FrameIndex
from vidtrace.settings import Settings
from vidtrace.store import repo

MIRRORED = "mirrored"
PADDED = "padded"
CROPPED = "cropped"
REFRAMED = "reframed"
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
    if pair == {REGION_FRAME, REGION_CONTENT}:
        edits.add(PADDED)
    return frozenset(edits)


def plausible(q_region: int | None, r_region: int) -> bool:
    """Region pairs worth a hit: at least one side whole (a crop of one matches the other whole)."""
    return q_region is None or q_region in _WHOLE or r_region in _WHOLE


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
    rows, ids, dists = index.search_arrays(codes, settings.max_distance_bits)
    refs = repo.frame_refs(session, ids.tolist())
    by_video: dict[int, list[FrameHit]] = defaultdict(list)
    for row, frame_id, dist in zip(rows.tolist(), ids.tolist(), dists.tolist()):
        ref = refs.get(frame_id)
        if ref is None:
            continue
        row = rows_used[row]
        q_region = regions[row] if regions is not None else None
        if not plausible(q_region, ref.region):
            continue
        mirrored = ref.region == REGION_MIRROR
        by_video[ref.video_id].append(FrameHit(ts_s[row], ref.ts_s, dist, region_edits(q_region, ref.region, mirrored)))
    videos = repo.videos_by_id(session, by_video)
    found = []
    for video_id, frame_hits in by_video.items():
        video = videos.get(video_id)
        if video is None or video.status != "ok" or not accept(video):
            continue
        alignment = align(frame_hits, duration_s, video.duration_s or 0.0, settings)
        if alignment is not None:
            found.append(VideoMatch(video_id, alignment))
    found.sort(key=lambda m: (-m.alignment.score, -m.alignment.matched_s, m.video_id))
    return found
