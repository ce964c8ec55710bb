"""Accounts and videos (distinct contents by SHA-256), with the frames a fingerprint stores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from vidtrace.results.records import VideoRecord
from vidtrace.store import frame_sums
from vidtrace.store.matches import delete_matches, matches_of_video
from vidtrace.store.models import Account, Frame, SoundPrint, Video
from vidtrace.store.sql import IN_CHUNK, chunks, dialect_insert, utcnow

if TYPE_CHECKING:
    from vidtrace.fingerprint import VideoFingerprint


def account_id(session: Session, platform: str, handle: str | None) -> int | None:
    if handle is None:
        return None
    query = select(Account.id).where(Account.platform == platform, Account.handle == handle)
    found = session.scalar(query)
    if found is not None:
        return found
    session.execute(dialect_insert(session, Account).values(platform=platform, handle=handle).on_conflict_do_nothing())
    return session.scalar(query)


def add_accounts(session: Session, accounts: Iterable[tuple[str, str]]) -> None:
    """Create the (platform, handle) accounts not stored yet, in sorted order.

    Writers that create their accounts up front, each in the same order, never wait for each
    other's accounts in a cycle (a deadlock) later on.
    """
    wanted = sorted(set(accounts))
    for chunk in chunks(wanted, IN_CHUNK // 2):
        session.execute(
            dialect_insert(session, Account).on_conflict_do_nothing(), [{"platform": p, "handle": h} for p, h in chunk]
        )


def _video_record(v: Video, sound_algorithm: str | None = None, sound_version: int | None = None) -> VideoRecord:
    return VideoRecord(
        v.id, v.sha256, v.status, v.error, v.duration_s, v.matched_at is not None, v.source, v.algorithm, v.algorithm_version,
        None if sound_algorithm is None or sound_version is None else (sound_algorithm, sound_version), v.unmatched_reason,
    )  # fmt: skip


def _videos_with_sound():
    return select(Video, SoundPrint.algorithm, SoundPrint.algorithm_version).outerjoin(
        SoundPrint, SoundPrint.video_id == Video.id
    )


def video_by_sha(session: Session, sha256: str) -> VideoRecord | None:
    row = session.execute(_videos_with_sound().where(Video.sha256 == sha256)).first()
    return _video_record(*row) if row else None


def videos_by_id(session: Session, ids: Iterable[int]) -> dict[int, VideoRecord]:
    ids = sorted(set(ids))
    out: dict[int, VideoRecord] = {}
    for chunk in chunks(ids):
        for v, algorithm, version in session.execute(_videos_with_sound().where(Video.id.in_(chunk))):
            out[v.id] = _video_record(v, algorithm, version)
    return out


def insert_video(session: Session, **values) -> tuple[int, bool]:
    """(id, True) of a new video row, or (id, False) of the one another writer stored first."""
    stmt = (
        dialect_insert(session, Video)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Video.id)
    )
    video_id = session.scalar(stmt)
    if video_id is not None:
        return video_id, True
    return session.execute(select(Video.id).where(Video.sha256 == values["sha256"])).scalar_one(), False


def add_video(
    session: Session, sha256: str, size_bytes: int, fingerprint: VideoFingerprint | None, error: str | None = None
) -> tuple[int, list[int], bool]:
    """Store a fingerprinted video and its frames (or a failed one).

    Returns its id, its frame ids and True; or, when another writer stored the same content
    first, that video's id, no frame ids and False (its frames are that writer's).
    """
    now = utcnow()
    if fingerprint is None:
        video_id, created = insert_video(
            session, sha256=sha256, size_bytes=size_bytes, status="failed", error=error,
            algorithm="", algorithm_version=0, sampled_frames=0, created_at=now, **frame_sums.NO_FRAMES,
        )  # fmt: skip
        return video_id, [], created
    info = fingerprint.info
    video_id, created = insert_video(
        session,
        sha256=sha256,
        size_bytes=size_bytes,
        duration_s=round(fingerprint.duration_s, 3),
        fps=info.fps,
        width=info.width,
        height=info.height,
        status="ok",
        warning="; ".join(fingerprint.warnings) or None,
        algorithm=fingerprint.algorithm,
        algorithm_version=fingerprint.version,
        sampled_frames=fingerprint.sampled_frames,
        created_at=now,
    )
    if not created:
        return video_id, [], False
    # Frames are written only in the transaction that created their video: the video's SHA-256
    # key is what keeps them from being stored twice.
    return video_id, add_frames(session, video_id, _frame_rows(fingerprint)), True


def _frame_rows(fingerprint: VideoFingerprint) -> list[tuple[float, bytes, float, int]]:
    """A fingerprint's frames as `add_frames` writes them: (time, hash, quality, region)."""
    return [(f.ts_s, f.hash, f.quality, f.region) for f in fingerprint.frames]


def add_frames(
    session: Session, video_id: int, frames: Sequence[tuple[float, bytes, float, int]], ids_wanted: bool = True
) -> list[int]:
    """Write a video's frames, each (time, hash, quality, region), and their sums on its row
    (`vidtrace.store.frame_sums`): all its frames at once. Returns their ids in the frames' order
    (none unless `ids_wanted`: reading them back as the rows are written costs twice the write)."""
    if not frames:
        frame_sums.record(session, video_id, [], [])
        return []
    # One statement for all of them, on the table itself: no object per frame, and none of the
    # ORM's bulk bookkeeping (a third of the write's CPU).
    rows = [{"video_id": video_id, "ts_s": ts, "hash": h, "quality": q, "region": r} for ts, h, q, r in frames]
    table = cast(Table, Frame.__table__)
    if ids_wanted:  # the ids come back in the frames' order
        returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = list(session.connection().execute(returning, rows).scalars())
        frame_sums.record(session, video_id, ids, [h for _, h, _, _ in frames])
        return ids
    session.connection().execute(insert(table), rows)
    written = session.execute(select(Frame.id, Frame.hash).where(Frame.video_id == video_id)).all()
    frame_sums.record(session, video_id, [i for i, _ in written], [bytes(h) for _, h in written])
    return []


def replace_fingerprint(session: Session, video_id: int, fingerprint: VideoFingerprint) -> list[int]:
    """Give a stored video a new fingerprint, in place (its uploads keep pointing at it): a failed
    video retried, or one hashed by an older version. Returns the new frame ids. Its old frames
    and the matches found with them go, and the video waits to be matched again. Call inside the
    transaction that commits the new frames."""
    info = fingerprint.info
    return replace_frames(
        session, video_id, _frame_rows(fingerprint), status="ok", error=None,
        duration_s=round(fingerprint.duration_s, 3), fps=info.fps, width=info.width, height=info.height,
        warning="; ".join(fingerprint.warnings) or None, algorithm=fingerprint.algorithm,
        algorithm_version=fingerprint.version, sampled_frames=fingerprint.sampled_frames,
    )  # fmt: skip


def replace_frames(
    session: Session, video_id: int, frames: Sequence[tuple[float, bytes, float, int]], ids_wanted: bool = True,
    **values,
) -> list[int]:  # fmt: skip
    """A stored video's frames, each (time, hash, quality, region), replaced and its row updated
    with `values` (see `replace_fingerprint`); the new frame ids unless `ids_wanted` is False."""
    delete_matches(session, [match_id for _, match_id in matches_of_video(session, video_id)])
    session.execute(delete(Frame).where(Frame.video_id == video_id))
    session.execute(
        update(Video)
        .where(Video.id == video_id)
        .values(**values, matched_at=None, match_order=None, unmatched_reason=None)
    )
    return add_frames(session, video_id, frames, ids_wanted)


def ok_video_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Video.id).where(Video.status == "ok").order_by(Video.id)))


def older_fingerprints(session: Session, algorithm: str, version: int) -> dict[tuple[bool, int], int]:
    """How many stored videos were hashed by `algorithm` at a version older than `version`:
    {(imported, their version): count}. Those fingerprinted here are brought up to date by a
    rescan; imported ones keep their source's version."""
    imported = Video.source.is_not(None)
    rows = session.execute(
        select(imported, Video.algorithm_version, func.count())
        .where(Video.status == "ok", Video.algorithm == algorithm, Video.algorithm_version < version)
        .group_by(imported, Video.algorithm_version)
    )
    return {(bool(is_imported), int(v)): int(n) for is_imported, v, n in rows}
