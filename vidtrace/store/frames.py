"""Frame hashes as the indexes read them: coverage aggregates, hash batches, time lines."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidtrace.hashes import to_matrix
from vidtrace.results.records import Coverage
from vidtrace.store.models import Frame
from vidtrace.store.sql import chunks, driver_rows

#: Frame ids per IN list of `frame_columns` (integer literals, no bound parameters: no limit but
#: the statement's length).
FRAME_ID_CHUNK = 5000
_FRAME_COLUMNS = f"SELECT id, video_id, ts_s, region FROM {Frame.__tablename__} WHERE id IN ({{ids}})"
_FRAMES_OF_VIDEOS = (
    f"SELECT video_id, ts_s, hash, region FROM {Frame.__tablename__} WHERE video_id IN ({{ids}})"
    " ORDER BY video_id, ts_s, id"
)


def frame_coverage(session: Session, algorithm: str, version: int, up_to_id: int | None = None) -> Coverage:
    """The same aggregates an index file records, computed from SQL."""
    query = select(func.count(Frame.id), func.coalesce(func.max(Frame.id), 0), func.coalesce(func.sum(Frame.id), 0))
    if up_to_id is not None:
        query = query.where(Frame.id <= up_to_id)
    count, max_id, id_sum = session.execute(query).one()
    return Coverage(algorithm=algorithm, version=version, count=int(count), max_id=int(max_id), id_sum=int(id_sum))


def frame_codes(session: Session, after_id: int = 0, batch: int = 200_000) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(ids, codes) of every stored frame with id above `after_id`, in batches."""
    last = after_id
    while True:
        rows = session.execute(
            select(Frame.id, Frame.hash).where(Frame.id > last).order_by(Frame.id).limit(batch)
        ).all()
        if not rows:
            return
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        yield ids, to_matrix([r[1] for r in rows], len(rows[0][1]))
        last = int(ids[-1])


def frames_of_video(session: Session, video_id: int) -> tuple[list[float], list[bytes], list[int]]:
    """Timestamps, hashes and regions of a video's frame hashes, in time order."""
    return frames_of_videos(session, [video_id]).get(video_id, ([], [], []))


def frames_of_videos(
    session: Session, video_ids: Iterable[int]
) -> dict[int, tuple[list[float], list[bytes], list[int]]]:
    """`frames_of_video` of many videos, read in one query per `IN_CHUNK` of them (the candidates a
    query aligns with); videos without frames are left out."""
    out: dict[int, tuple[list[float], list[bytes], list[int]]] = {}
    for chunk in chunks(sorted(set(video_ids))):
        for video_id, ts, raw, region in driver_rows(session, _FRAMES_OF_VIDEOS, chunk):
            ts_list, hash_list, region_list = out.setdefault(video_id, ([], [], []))
            ts_list.append(ts)
            hash_list.append(bytes(raw))
            region_list.append(region)
    return out


def frame_columns(session: Session, frame_ids: Iterable[int]) -> tuple[list[int], list[int], list[float], list[int]]:
    """(ids, video ids, times, regions) of those of these frames that exist, read as the driver's
    rows (a lookup reads every frame its candidates' hits name this way)."""
    rows: list[tuple] = []
    for chunk in chunks(sorted(set(frame_ids)), FRAME_ID_CHUNK):
        rows.extend(driver_rows(session, _FRAME_COLUMNS, chunk))
    if not rows:
        return [], [], [], []
    ids, videos, ts, regions = zip(*rows)
    return list(ids), list(videos), list(ts), list(regions)


def first_frame_ids(session: Session, video_ids: Iterable[int]) -> dict[int, int]:
    """The smallest frame id of each of these videos that has frames."""
    out: dict[int, int] = {}
    for chunk in chunks(sorted(set(video_ids))):
        query = select(Frame.video_id, func.min(Frame.id)).where(Frame.video_id.in_(chunk)).group_by(Frame.video_id)
        out.update((v, f) for v, f in session.execute(query))
    return out


def frame_codes_of_videos(session: Session, video_ids: Iterable[int]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(ids, codes) of every frame of these videos, a chunk of videos at a time."""
    for chunk in chunks(sorted(set(video_ids)), 100):
        rows = session.execute(select(Frame.id, Frame.hash).where(Frame.video_id.in_(chunk)).order_by(Frame.id)).all()
        if rows:
            yield np.array([r[0] for r in rows], dtype=np.int64), to_matrix([r[1] for r in rows], len(rows[0][1]))
