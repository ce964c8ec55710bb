"""Matches and their segments, and the match order in which videos are matched."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from vidtrace.results.records import MatchLink, MatchRecord, SegmentRecord
from vidtrace.store.models import Match, Segment, Video
from vidtrace.store.sql import chunks, dialect_insert, on_postgres, utcnow

if TYPE_CHECKING:
    from vidtrace.results.alignment import Alignment

#: PostgreSQL advisory lock key under which matching writers take their place in the match order.
MATCH_ORDER_LOCK = 0x76696474_72616365 & 0x7FFF_FFFF_FFFF_FFFF  # "vidtrace"


_UNMATCHED = (Video.status == "ok", Video.matched_at.is_(None))


def count_videos_to_match(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Video).where(*_UNMATCHED)).scalar_one()


def claim_video_to_match(session: Session) -> int | None:
    """The first video waiting to be matched that no other writer holds, locked until commit.

    On PostgreSQL the row is locked FOR NO KEY UPDATE SKIP LOCKED: concurrent writers each take
    a different video, and the lock still lets others add uploads of it (their foreign keys
    take a KEY SHARE lock). SQLite's single writer simply takes the first.
    """
    query = select(Video.id).where(*_UNMATCHED).order_by(Video.id).limit(1)
    if on_postgres(session):
        query = query.with_for_update(skip_locked=True, key_share=True)
    return session.scalar(query)


def lock_match_order(session: Session) -> None:
    """Serialise, until commit, the step that gives a video its place in the match order."""
    if on_postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(MATCH_ORDER_LOCK)))


def matched_after(session: Session, order: int) -> list[tuple[int, int]]:
    """(video id, match order) of the videos matched after `order`, in match order."""
    rows = session.execute(
        select(Video.id, Video.match_order)
        .where(Video.match_order > order, Video.matched_at.is_not(None))
        .order_by(Video.match_order)
    )
    return [(video_id, order) for video_id, order in rows if order is not None]  # none is, by the query


def mark_matched(session: Session, video_id: int, version: int | None = None) -> int:
    """Record that the video is matched (by the matching rules of `version`), as the next in the
    match order (hold `lock_match_order`)."""
    last = session.execute(select(func.max(Video.match_order))).scalar_one()  # None: no video matched yet
    order = (last or 0) + 1
    session.execute(
        update(Video).where(Video.id == video_id).values(matched_at=utcnow(), match_order=order, match_version=version)
    )
    return order


def mark_unmatched(session: Session, video_id: int, reason: str, version: int | None = None) -> int:
    """Mark a video matched without matches, recording why (hold `lock_match_order`)."""
    session.execute(update(Video).where(Video.id == video_id).values(unmatched_reason=reason))
    return mark_matched(session, video_id, version)


def _older_rules(version: int):
    return (
        Video.status == "ok",
        Video.matched_at.is_not(None),
        or_(Video.match_version.is_(None), Video.match_version < version),
    )


def count_matched_by_older_rules(session: Session, version: int) -> int:
    """Videos matched by matching rules older than `version`."""
    return session.execute(select(func.count()).select_from(Video).where(*_older_rules(version))).scalar_one()


def unmatch_older_rules(session: Session, version: int) -> int:
    """Put the videos matched by rules older than `version` back in the queue to match; their
    matches stay until matching them again finds or drops each one. How many there were."""
    count = count_matched_by_older_rules(session, version)
    if count:
        session.execute(
            update(Video).where(*_older_rules(version)).values(matched_at=None, match_order=None, unmatched_reason=None)
        )
    return count


def matches_of_video(session: Session, video_id: int) -> list[tuple[int, int]]:
    """The video's stored matches (any algorithm version): (the other video's id, the match id)."""
    rows = session.execute(
        select(Match.id, Match.video_a_id, Match.video_b_id).where(
            or_(Match.video_a_id == video_id, Match.video_b_id == video_id)
        )
    )
    return [(b if a == video_id else a, match_id) for match_id, a, b in rows]


def delete_matches(session: Session, match_ids: Sequence[int]) -> None:
    """Delete these matches and their segments."""
    for chunk in chunks(list(match_ids)):
        session.execute(delete(Segment).where(Segment.match_id.in_(chunk)))
        session.execute(delete(Match).where(Match.id.in_(chunk)))


def add_match(
    session: Session, video_a_id: int, video_b_id: int, alignment: Alignment, algorithm: str, version: int, scan_id: int | None,
    signals: Sequence[str] = ("pictures",), kind: str = "copy",
) -> int:  # fmt: skip
    """Store a match; `alignment` is seen from video A's side (query = A). `signals` say which
    signals align, `kind` what the match is ("copy", or "same soundtrack" when only sound aligns).

    One row per unordered pair and algorithm version: an existing one (an older scan's, or a
    concurrent writer's) is replaced, segments included, keeping its id.
    """
    if video_a_id > video_b_id:
        video_a_id, video_b_id, alignment = video_b_id, video_a_id, alignment.swapped()
    values = dict(
        video_a_id=video_a_id,
        video_b_id=video_b_id,
        score=alignment.score,
        matched_s=alignment.matched_s,
        algorithm=algorithm,
        algorithm_version=version,
        scan_id=scan_id,
        created_at=utcnow(),
        signals=",".join(signals),
        kind=kind,
    )
    stmt = dialect_insert(session, Match).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["video_a_id", "video_b_id", "algorithm_version"],
        set_={
            k: stmt.excluded[k] for k in ("score", "matched_s", "algorithm", "scan_id", "created_at", "signals", "kind")
        },
    ).returning(Match.id)
    match_id = session.scalar(stmt)
    session.execute(delete(Segment).where(Segment.match_id == match_id))
    segments = [
        dict(
            match_id=match_id,
            a_start_s=s.q_start,
            a_end_s=s.q_end,
            b_start_s=s.r_start,
            b_end_s=s.r_end,
            speed=s.speed,
            frames=s.frames,
            edits=",".join(s.edits) or None,
        )
        for s in alignment.segments
    ]
    if segments:
        session.execute(dialect_insert(session, Segment).on_conflict_do_nothing(), segments)
    return match_id


def list_matches(session: Session, min_score: float = 0.0, scan_id: int | None = None) -> list[MatchRecord]:
    query = select(Match).where(Match.score >= min_score)
    if scan_id is not None:
        query = query.where(Match.scan_id == scan_id)
    matches = list(session.scalars(query.order_by(Match.score.desc(), Match.id)))
    segments: dict[int, list[SegmentRecord]] = defaultdict(list)
    for chunk in chunks([m.id for m in matches]):
        for s in session.scalars(select(Segment).where(Segment.match_id.in_(chunk)).order_by(Segment.a_start_s)):
            segments[s.match_id].append(SegmentRecord(
                s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s, s.speed, s.frames, tuple(filter(None, (s.edits or "").split(",")))
            ))  # fmt: skip
    return [
        MatchRecord(
            m.id,
            m.video_a_id,
            m.video_b_id,
            m.score,
            m.matched_s,
            m.scan_id,
            tuple(segments[m.id]),
            tuple(filter(None, (m.signals or "pictures").split(","))),
            m.kind or "copy",
        )
        for m in matches
    ]


def match_links(session: Session) -> list[MatchLink]:
    rows = session.execute(
        select(Match.video_a_id, Match.video_b_id, Match.score, Match.scan_id, Match.kind, Match.id).order_by(Match.id)
    )
    return [MatchLink(*r) for r in rows]


def match_time_lines(
    session: Session, match_ids: Iterable[int]
) -> dict[int, tuple[float, float, list[tuple[float, float, float, float, float]]]]:
    """Per match: the durations of its two videos (A, B) and its segments (a_start, a_end,
    b_start, b_end, speed)."""
    out: dict[int, tuple[float, float, list]] = {}
    ids = sorted(set(match_ids))
    for chunk in chunks(ids):
        a, b = Video.__table__.alias("a"), Video.__table__.alias("b")
        query = (
            select(Match.id, a.c.duration_s, b.c.duration_s)
            .join(a, a.c.id == Match.video_a_id)
            .join(b, b.c.id == Match.video_b_id)
            .where(Match.id.in_(chunk))
        )
        for mid, da, db in session.execute(query):
            out[mid] = (float(da or 0.0), float(db or 0.0), [])
        query = select(
            Segment.match_id, Segment.a_start_s, Segment.a_end_s, Segment.b_start_s, Segment.b_end_s, Segment.speed
        )
        for mid, *segment in session.execute(query.where(Segment.match_id.in_(chunk))):
            out[mid][2].append(tuple(segment))
    return out
