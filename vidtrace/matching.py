"""Search and align: a video's frame hashes against the index, grouped into per-video matches."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from sqlalchemy.orm import Session

from vidtrace.align import Alignment, FrameHit, align
from vidtrace.hashes import to_matrix
from vidtrace.index import FrameIndex
from vidtrace.settings import Settings
from vidtrace.store import repo


@dataclass(frozen=True)
class VideoMatch:
    """The query (one side) matches stored video `video_id`; segments are seen from the query."""

    video_id: int
    alignment: Alignment


def find_matches(
    session: Session,
    index: FrameIndex,
    ts_s: Sequence[float],
    hashes: Sequence[bytes],
    duration_s: float,
    settings: Settings,
    accept: Callable[[repo.VideoRecord], bool] = lambda video: True,
) -> list[VideoMatch]:
    """Stored videos that share aligned segments with the query's frames, best first."""
    if not hashes:
        return []
    hits = index.search(to_matrix(list(hashes), len(hashes[0])), settings.max_distance_bits)
    refs = repo.frame_refs(session, (h.frame_id for h in hits))
    by_video: dict[int, list[FrameHit]] = defaultdict(list)
    for hit in hits:
        ref = refs.get(hit.frame_id)
        if ref is not None:
            by_video[ref.video_id].append(FrameHit(ts_s[hit.query_row], ref.ts_s, hit.distance_bits))
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
