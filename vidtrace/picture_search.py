"""Pictures' matches among the stored videos: frame hits from the index, the candidates' frames
read once, aligned (`vidtrace.candidates`), best first."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from vidtrace import candidates, matching
from vidtrace.matching import MatchBudgetExceeded, Query, VideoMatch, prepare
from vidtrace.settings import Settings
from vidtrace.store import repo

Accept = Callable[[repo.VideoRecord], bool]
Result = list[VideoMatch] | MatchBudgetExceeded | None


def frame_table(session: Session) -> matching.FrameTable:
    """An empty table of the stored frames met, read from the store as they are met. Frames never
    change once stored, so one table serves every search of a session's matching pass."""

    def load(ids: list[int]) -> tuple[list[int], list[int], list[float], list[int]]:
        return repo.frame_columns(session, ids)

    return matching.FrameTable(load)


def match_pictures(
    session: Session, index, queries: Sequence[Query | None], settings: Settings, accept: Accept = lambda video: True,
    excluded: Sequence[set[int]] | None = None, batch_hits: int | None = None,
    table: matching.FrameTable | None = None,
) -> list[Result]:  # fmt: skip
    """Each query's matches among the stored videos (status "ok") that `accept` takes, minus the
    query's `excluded` ones, best first; all queries searched in one pass, the candidates' frames
    read once. A query over the hit budget gets its `MatchBudgetExceeded`; with
    `batch_hits`, those past the batch's hit budget get None (search them alone). `table`: the
    stored frames met by earlier searches (`frame_table`), added to."""
    videos: dict[int, repo.VideoRecord] = {}

    def judge(ids: list[int]) -> set[int]:
        videos.update(repo.videos_by_id(session, ids))
        return {v for v in ids if (video := videos.get(v)) is not None and video.status == "ok" and accept(video)}

    present = [(k, q) for k, q in enumerate(queries) if q is not None]
    table = frame_table(session) if table is None else table
    excluded_present = [excluded[k] for k, _ in present] if excluded is not None else None
    found = matching.search(index, [q for _, q in present], table, judge, settings, excluded_present, batch_hits)
    durations_s = {v: video.duration_s or 0.0 for v, video in videos.items()}
    # The stored side's held pictures and changes count too: the frames of the candidates that
    # align, each read once for all the queries.
    stored: dict[int, tuple[list[float], list[bytes], list[int]]] = {}
    read: set[int] = set()
    holds: candidates.Holds = {}
    out: list[Result] = [[] for _ in queries]
    for n, (k, query) in enumerate(present):
        hits, found[n] = found[n], None  # one query's hits at a time are turned into FrameHits
        if not isinstance(hits, dict):
            out[k] = hits
            continue
        first = candidates.aligning(query, hits, durations_s, settings)
        wanted = {video_id for video_id, _, _ in first} - read
        stored.update(repo.frames_of_videos(session, wanted))
        read |= wanted
        out[k] = candidates.finish(query, first, stored, durations_s, settings, holds)
    return out


def find_matches(
    session: Session, index, ts_s: Sequence[float], hashes: Sequence[bytes], duration_s: float, settings: Settings,
    accept: Accept = lambda video: True, regions: Sequence[int] | None = None,
) -> list[VideoMatch]:  # fmt: skip
    """Stored videos that share aligned segments with the query's frames, best first.

    `regions` are the query hashes' regions (`fingerprint.REGION_*`), when known. Raises
    `MatchBudgetExceeded` when the hits, held pictures collapsed, exceed `matching.MAX_KEPT_HITS`.
    """
    (found,) = match_pictures(session, index, [prepare(ts_s, hashes, duration_s, settings, regions)], settings, accept)
    if isinstance(found, MatchBudgetExceeded):
        raise found
    return found or []
