"""The frames of many stored videos at once: the candidates a query aligns with, read in one query."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidtrace.store.models import Frame

#: Videos per IN (...) list: well under SQLite's bound on query parameters.
VIDEOS_PER_QUERY = 500


def frames_of_videos(session: Session, video_ids: Sequence[int]) -> dict[int, tuple[list[float], list[bytes], list[int]]]:
    """Each video's frame timestamps, hashes and regions, in time order (as `repo.frames_of_video`
    gives them one video at a time); videos without frames are left out."""
    ids = sorted(set(video_ids))
    out: dict[int, tuple[list[float], list[bytes], list[int]]] = {}
    for start in range(0, len(ids), VIDEOS_PER_QUERY):
        chunk = ids[start : start + VIDEOS_PER_QUERY]
        query = (
            select(Frame.video_id, Frame.ts_s, Frame.hash, Frame.region)
            .where(Frame.video_id.in_(chunk))
            .order_by(Frame.video_id, Frame.ts_s, Frame.id)
        )
        for video_id, ts, raw, region in session.execute(query):
            ts_list, hash_list, region_list = out.setdefault(video_id, ([], [], []))
            ts_list.append(ts)
            hash_list.append(raw)
            region_list.append(region)
    return out
