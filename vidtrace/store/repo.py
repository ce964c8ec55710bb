"""Queries. Sessions go in, plain dataclasses come out; ORM rows stay inside this module.

Several writers may share one PostgreSQL database. Rows with a natural key (accounts, videos by
SHA-256, uploads by path and account, matches by video pair, segments) are written with
INSERT ... ON CONFLICT, so a row another writer stored first is used, never duplicated and never
an IntegrityError; videos waiting to be matched are claimed with FOR NO KEY UPDATE SKIP LOCKED.
On SQLite the store's writer lock already admits one writer at a time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vidtrace.align import Alignment
from vidtrace.fingerprint import VideoFingerprint
from vidtrace.hashes import to_matrix
from vidtrace.index import Coverage
from vidtrace.sound import SoundPrint as SoundValues
from vidtrace.store.models import Account, ClusterMerge, Frame, Match, Scan, Segment, SoundPrint, Upload, Video

#: Uploads imported from a partner's fingerprint file have paths starting with this (no file here).
IMPORT_PATH_PREFIX = "import:"
#: Rows per IN (...) list: well below SQLite's limit of 32766 bound parameters.
IN_CHUNK = 900
#: PostgreSQL advisory lock key under which matching writers take their place in the match order.
MATCH_ORDER_LOCK = 0x76696474_72616365 & 0x7FFF_FFFF_FFFF_FFFF  # "vidtrace"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session, model):
    """INSERT for the session's database, with its ON CONFLICT clauses."""
    return (postgresql.insert if _on_postgres(session) else sqlite.insert)(model)


def _chunks(items: Sequence, size: int = IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- plain values crossing the storage boundary ---------------------------------------------


@dataclass(frozen=True)
class VideoRecord:
    id: int
    sha256: str
    status: str
    error: str | None
    duration_s: float | None
    matched: bool
    source: str | None = None
    algorithm: str = ""
    algorithm_version: int = 0
    #: (algorithm, version) of its sound print; None when none was computed
    sound: tuple[str, int] | None = None
    unmatched_reason: str | None = None


@dataclass(frozen=True)
class UploadRecord:
    id: int
    video_id: int
    path: str
    account: str | None
    platform: str
    uploaded_at: dt.datetime | None
    uploaded_at_source: str | None
    url: str | None
    title: str | None
    gone: bool
    file_size: int
    file_mtime_ns: int


@dataclass(frozen=True)
class SegmentRecord:
    a_start_s: float
    a_end_s: float
    b_start_s: float
    b_end_s: float
    speed: float
    frames: int
    edits: tuple[str, ...] = ()  # edits that explain the segment (mirrored, padded, cropped, ...)


@dataclass(frozen=True)
class MatchRecord:
    id: int
    video_a_id: int
    video_b_id: int
    score: float
    matched_s: float
    scan_id: int | None
    segments: tuple[SegmentRecord, ...]
    signals: tuple[str, ...] = ("pictures",)  # the signals that align: pictures, sound
    kind: str = "copy"  # "copy", or "same soundtrack" when only the sound aligns


@dataclass(frozen=True)
class FrameRef:
    video_id: int
    ts_s: float
    region: int = 0  # the part of the frame the hash covers (fingerprint.REGION_*)


# --- scans ----------------------------------------------------------------------------------


def start_scan(session: Session, kind: str, roots: list[dict]) -> int:
    scan = Scan(kind=kind, roots=roots, started_at=utcnow(), status="running", counts={})
    session.add(scan)
    session.flush()
    return scan.id


def finish_scan(session: Session, scan_id: int, status: str, counts: dict) -> None:
    session.execute(update(Scan).where(Scan.id == scan_id).values(status=status, counts=counts, finished_at=utcnow()))


@dataclass(frozen=True)
class ScanRecord:
    id: int
    kind: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict


def set_scan_counts(session: Session, scan_id: int, counts: dict) -> None:
    """Record counts of a running scan (its final counts replace them when it finishes)."""
    session.execute(update(Scan).where(Scan.id == scan_id).values(counts=counts))


def previous_scan(session: Session, scan_id: int) -> ScanRecord | None:
    """The scan started just before `scan_id`, if any."""
    row = session.execute(
        select(Scan.id, Scan.kind, Scan.status, Scan.started_at, Scan.finished_at, Scan.counts)
        .where(Scan.id < scan_id)
        .order_by(Scan.id.desc())
        .limit(1)
    ).first()
    return ScanRecord(row[0], row[1], row[2], row[3], row[4], dict(row[5] or {})) if row else None


def count_videos_created(session: Session, since: dt.datetime, until: dt.datetime | None = None) -> int:
    """Videos fingerprinted here (not imported) and stored from `since` (until `until`)."""
    query = select(func.count()).select_from(Video).where(Video.source.is_(None), Video.created_at >= since)
    if until is not None:
        query = query.where(Video.created_at <= until)
    return session.scalar(query)


def known_sources(session: Session) -> list[dict]:
    """Every distinct root or manifest ingested before, oldest first."""
    seen: list[dict] = []
    for (roots,) in session.execute(select(Scan.roots).where(Scan.kind == "ingest").order_by(Scan.id)):
        for source in roots or []:
            if source not in seen:
                seen.append(source)
    return seen


# --- accounts, videos, uploads --------------------------------------------------------------


def account_id(session: Session, platform: str, handle: str | None) -> int | None:
    if handle is None:
        return None
    query = select(Account.id).where(Account.platform == platform, Account.handle == handle)
    found = session.scalar(query)
    if found is not None:
        return found
    session.execute(_insert(session, Account).values(platform=platform, handle=handle).on_conflict_do_nothing())
    return session.scalar(query)


def add_accounts(session: Session, accounts: Iterable[tuple[str, str]]) -> None:
    """Create the (platform, handle) accounts not stored yet, in sorted order.

    Writers that create their accounts up front, each in the same order, never wait for each
    other's accounts in a cycle (a deadlock) later on.
    """
    wanted = sorted(set(accounts))
    for chunk in _chunks(wanted, IN_CHUNK // 2):
        session.execute(
            _insert(session, Account).on_conflict_do_nothing(), [{"platform": p, "handle": h} for p, h in chunk]
        )


def _video_record(v: Video, sound_algorithm: str | None = None, sound_version: int | None = None) -> VideoRecord:
    return VideoRecord(
        v.id, v.sha256, v.status, v.error, v.duration_s, v.matched_at is not None, v.source, v.algorithm, v.algorithm_version,
        None if sound_algorithm is None else (sound_algorithm, sound_version), v.unmatched_reason,
    )  # fmt: skip


def _videos_with_sound():
    return select(Video, SoundPrint.algorithm, SoundPrint.algorithm_version).outerjoin(SoundPrint, SoundPrint.video_id == Video.id)


def video_by_sha(session: Session, sha256: str) -> VideoRecord | None:
    row = session.execute(_videos_with_sound().where(Video.sha256 == sha256)).first()
    return _video_record(*row) if row else None


def videos_by_id(session: Session, ids: Iterable[int]) -> dict[int, VideoRecord]:
    ids = sorted(set(ids))
    out: dict[int, VideoRecord] = {}
    for chunk in _chunks(ids):
        for v, algorithm, version in session.execute(_videos_with_sound().where(Video.id.in_(chunk))):
            out[v.id] = _video_record(v, algorithm, version)
    return out


def _insert_video(session: Session, **values) -> tuple[int, bool]:
    """(id, True) of a new video row, or (id, False) of the one another writer stored first."""
    stmt = _insert(session, Video).values(**values).on_conflict_do_nothing(index_elements=["sha256"]).returning(Video.id)
    video_id = session.scalar(stmt)
    if video_id is not None:
        return video_id, True
    return session.scalar(select(Video.id).where(Video.sha256 == values["sha256"])), False


def add_video(
    session: Session, sha256: str, size_bytes: int, fingerprint: VideoFingerprint | None, error: str | None = None
) -> tuple[int, list[int], bool]:
    """Store a fingerprinted video and its frames (or a failed one).

    Returns its id, its frame ids and True; or, when another writer stored the same content
    first, that video's id, no frame ids and False (its frames are that writer's).
    """
    now = utcnow()
    if fingerprint is None:
        video_id, created = _insert_video(
            session, sha256=sha256, size_bytes=size_bytes, status="failed", error=error,
            algorithm="", algorithm_version=0, sampled_frames=0, created_at=now,
        )  # fmt: skip
        return video_id, [], created
    info = fingerprint.info
    video_id, created = _insert_video(
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
    return video_id, _add_frames(session, video_id, fingerprint), True


def _add_frames(session: Session, video_id: int, fingerprint: VideoFingerprint) -> list[int]:
    frames = [Frame(video_id=video_id, ts_s=f.ts_s, hash=f.hash, quality=f.quality, region=f.region) for f in fingerprint.frames]
    session.add_all(frames)
    session.flush()
    return [f.id for f in frames]


def replace_fingerprint(session: Session, video_id: int, fingerprint: VideoFingerprint) -> list[int]:
    """Give a stored video a new fingerprint, in place (its uploads keep pointing at it): a failed
    video retried, or one hashed by an older version. Returns the new frame ids. Its old frames
    and the matches found with them go, and the video waits to be matched again. Call inside the
    transaction that commits the new frames."""
    involved = select(Match.id).where(or_(Match.video_a_id == video_id, Match.video_b_id == video_id))
    session.execute(delete(Segment).where(Segment.match_id.in_(involved)))
    session.execute(delete(Match).where(or_(Match.video_a_id == video_id, Match.video_b_id == video_id)))
    session.execute(delete(Frame).where(Frame.video_id == video_id))
    info = fingerprint.info
    session.execute(
        update(Video)
        .where(Video.id == video_id)
        .values(
            status="ok", error=None, duration_s=round(fingerprint.duration_s, 3), fps=info.fps, width=info.width,
            height=info.height, warning="; ".join(fingerprint.warnings) or None, algorithm=fingerprint.algorithm,
            algorithm_version=fingerprint.version, sampled_frames=fingerprint.sampled_frames, matched_at=None,
            match_order=None, unmatched_reason=None,
        )  # fmt: skip
    )
    return _add_frames(session, video_id, fingerprint)


def _upload_record(u: Upload, account: Account | None) -> UploadRecord:
    return UploadRecord(
        id=u.id,
        video_id=u.video_id,
        path=u.path,
        account=account.handle if account else None,
        platform=account.platform if account else "",
        uploaded_at=u.uploaded_at,
        uploaded_at_source=u.uploaded_at_source,
        url=u.url,
        title=u.title,
        gone=u.gone_at is not None,
        file_size=u.file_size,
        file_mtime_ns=u.file_mtime_ns,
    )


def find_upload(session: Session, path: str, account: int | None) -> UploadRecord | None:
    cond = Upload.account_id.is_(None) if account is None else Upload.account_id == account
    row = session.execute(
        select(Upload, Account).outerjoin(Account, Upload.account_id == Account.id).where(Upload.path == path, cond)
    ).first()
    return _upload_record(*row) if row else None


def uploads_of_video_by_account(session: Session, video_id: int, account: int | None) -> list[UploadRecord]:
    cond = Upload.account_id.is_(None) if account is None else Upload.account_id == account
    rows = session.execute(
        select(Upload, Account).outerjoin(Account, Upload.account_id == Account.id).where(Upload.video_id == video_id, cond)
    )
    return [_upload_record(u, a) for u, a in rows]


def add_upload(session: Session, **values) -> int | None:
    """The new upload's id; None when an upload of that path and account exists (another writer's)."""
    return session.scalar(_insert(session, Upload).values(**values).on_conflict_do_nothing().returning(Upload.id))


def update_upload(session: Session, upload_id: int, **values) -> None:
    session.execute(update(Upload).where(Upload.id == upload_id).values(**values))


def uploads_of_videos(session: Session, video_ids: Iterable[int]) -> dict[int, list[UploadRecord]]:
    ids = sorted(set(video_ids))
    out: dict[int, list[UploadRecord]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Upload, Account)
            .outerjoin(Account, Upload.account_id == Account.id)
            .where(Upload.video_id.in_(chunk))
            .order_by(Upload.uploaded_at, Upload.id)
        )
        for u, a in rows:
            out[u.video_id].append(_upload_record(u, a))
    return out


def live_uploads(session: Session) -> list[UploadRecord]:
    rows = session.execute(
        select(Upload, Account)
        .outerjoin(Account, Upload.account_id == Account.id)
        .where(Upload.gone_at.is_(None))
        .order_by(Upload.id)  # writers updating them in one order never deadlock
    )
    return [_upload_record(u, a) for u, a in rows]


# --- frames and the index -------------------------------------------------------------------


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
        rows = session.execute(select(Frame.id, Frame.hash).where(Frame.id > last).order_by(Frame.id).limit(batch)).all()
        if not rows:
            return
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        yield ids, to_matrix([r[1] for r in rows], len(rows[0][1]))
        last = int(ids[-1])


def frames_of_video(session: Session, video_id: int) -> tuple[list[float], list[bytes], list[int]]:
    """Timestamps, hashes and regions of a video's frame hashes, in time order."""
    return frames_of_videos(session, [video_id]).get(video_id, ([], [], []))


def frames_of_videos(session: Session, video_ids: Iterable[int]) -> dict[int, tuple[list[float], list[bytes], list[int]]]:
    """`frames_of_video` of many videos, read in one query per `IN_CHUNK` of them (the candidates a
    query aligns with); videos without frames are left out."""
    out: dict[int, tuple[list[float], list[bytes], list[int]]] = {}
    for chunk in _chunks(sorted(set(video_ids))):
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


def frame_refs(session: Session, frame_ids: Iterable[int]) -> dict[int, FrameRef]:
    ids = sorted(set(frame_ids))
    out: dict[int, FrameRef] = {}
    for chunk in _chunks(ids):
        query = select(Frame.id, Frame.video_id, Frame.ts_s, Frame.region).where(Frame.id.in_(chunk))
        for fid, vid, ts, region in session.execute(query):
            out[fid] = FrameRef(vid, ts, region)
    return out


# --- sound prints ---------------------------------------------------------------------------


def set_sound_print(session: Session, video_id: int, sound: SoundValues | None, algorithm: str, version: int, step_s: float) -> int:
    """Store (or replace) a video's sound print; None stores that it has no soundtrack. Its row id."""
    session.execute(delete(SoundPrint).where(SoundPrint.video_id == video_id))
    row = SoundPrint(
        video_id=video_id, algorithm=algorithm, algorithm_version=version, step_s=step_s,
        value_count=0 if sound is None else len(sound), data=b"" if sound is None else sound.to_bytes(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def sound_print_of_video(session: Session, video_id: int) -> SoundValues | None:
    """A video's sound print; None when it has none (no soundtrack, or not computed)."""
    row = session.execute(
        select(SoundPrint.algorithm, SoundPrint.algorithm_version, SoundPrint.step_s, SoundPrint.data).where(
            SoundPrint.video_id == video_id, SoundPrint.value_count > 0
        )
    ).first()
    if row is None:
        return None
    algorithm, version, step_s, data = row
    return SoundValues.from_bytes(data, algorithm, version, step_s)


def sound_coverage(session: Session, algorithm: str, version: int, up_to_id: int | None = None) -> Coverage:
    """Count, largest and sum of the ids of the sound prints with values (what a sound index records)."""
    query = select(
        func.count(SoundPrint.id), func.coalesce(func.max(SoundPrint.id), 0), func.coalesce(func.sum(SoundPrint.id), 0)
    ).where(SoundPrint.value_count > 0)
    if up_to_id is not None:
        query = query.where(SoundPrint.id <= up_to_id)
    count, max_id, id_sum = session.execute(query).one()
    return Coverage(algorithm=algorithm, version=version, count=int(count), max_id=int(max_id), id_sum=int(id_sum))


def sound_rows(
    session: Session, after_id: int = 0, video_ids: Iterable[int] | None = None, batch: int = 2_000
) -> Iterable[tuple[int, int, np.ndarray]]:
    """(print id, video id, values) of the sound prints with values, in id order: those with id
    above `after_id`, or those of `video_ids`."""
    if video_ids is not None:
        for chunk in _chunks(sorted(set(video_ids))):
            query = select(SoundPrint.id, SoundPrint.video_id, SoundPrint.data).where(
                SoundPrint.video_id.in_(chunk), SoundPrint.value_count > 0
            )
            for pid, vid, data in session.execute(query.order_by(SoundPrint.id)):
                yield pid, vid, SoundValues.from_bytes(data).values
        return
    last = after_id
    while True:
        rows = session.execute(
            select(SoundPrint.id, SoundPrint.video_id, SoundPrint.data)
            .where(SoundPrint.id > last, SoundPrint.value_count > 0)
            .order_by(SoundPrint.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for pid, vid, data in rows:
            yield pid, vid, SoundValues.from_bytes(data).values
        last = rows[-1][0]


# --- matching -------------------------------------------------------------------------------


_UNMATCHED = (Video.status == "ok", Video.matched_at.is_(None))


def count_videos_to_match(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Video).where(*_UNMATCHED))


def claim_video_to_match(session: Session) -> int | None:
    """The first video waiting to be matched that no other writer holds, locked until commit.

    On PostgreSQL the row is locked FOR NO KEY UPDATE SKIP LOCKED: concurrent writers each take
    a different video, and the lock still lets others add uploads of it (their foreign keys
    take a KEY SHARE lock). SQLite's single writer simply takes the first.
    """
    query = select(Video.id).where(*_UNMATCHED).order_by(Video.id).limit(1)
    if _on_postgres(session):
        query = query.with_for_update(skip_locked=True, key_share=True)
    return session.scalar(query)


def lock_match_order(session: Session) -> None:
    """Serialise, until commit, the step that gives a video its place in the match order."""
    if _on_postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(MATCH_ORDER_LOCK)))


def matched_after(session: Session, order: int) -> list[tuple[int, int]]:
    """(video id, match order) of the videos matched after `order`, in match order."""
    rows = session.execute(
        select(Video.id, Video.match_order)
        .where(Video.match_order > order, Video.matched_at.is_not(None))
        .order_by(Video.match_order)
    )
    return [(r[0], r[1]) for r in rows]


def first_frame_ids(session: Session, video_ids: Iterable[int]) -> dict[int, int]:
    """The smallest frame id of each of these videos that has frames."""
    out: dict[int, int] = {}
    for chunk in _chunks(sorted(set(video_ids))):
        query = select(Frame.video_id, func.min(Frame.id)).where(Frame.video_id.in_(chunk)).group_by(Frame.video_id)
        out.update((v, f) for v, f in session.execute(query))
    return out


def frame_codes_of_videos(session: Session, video_ids: Iterable[int]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(ids, codes) of every frame of these videos, a chunk of videos at a time."""
    for chunk in _chunks(sorted(set(video_ids)), 100):
        rows = session.execute(select(Frame.id, Frame.hash).where(Frame.video_id.in_(chunk)).order_by(Frame.id)).all()
        if rows:
            yield np.array([r[0] for r in rows], dtype=np.int64), to_matrix([r[1] for r in rows], len(rows[0][1]))


def mark_matched(session: Session, video_id: int) -> int:
    """Record that the video is matched, as the next in the match order (hold `lock_match_order`)."""
    order = session.scalar(select(func.coalesce(func.max(Video.match_order), 0))) + 1
    session.execute(update(Video).where(Video.id == video_id).values(matched_at=utcnow(), match_order=order))
    return order


def mark_unmatched(session: Session, video_id: int, reason: str) -> int:
    """Mark a video matched without matches, recording why (hold `lock_match_order`)."""
    session.execute(update(Video).where(Video.id == video_id).values(unmatched_reason=reason))
    return mark_matched(session, video_id)


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
    stmt = _insert(session, Match).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["video_a_id", "video_b_id", "algorithm_version"],
        set_={k: stmt.excluded[k] for k in ("score", "matched_s", "algorithm", "scan_id", "created_at", "signals", "kind")},
    ).returning(Match.id)
    match_id = session.scalar(stmt)
    session.execute(delete(Segment).where(Segment.match_id == match_id))
    segments = [
        dict(
            match_id=match_id, a_start_s=s.q_start, a_end_s=s.q_end, b_start_s=s.r_start, b_end_s=s.r_end,
            speed=s.speed, frames=s.frames, edits=",".join(s.edits) or None,
        )  # fmt: skip
        for s in alignment.segments
    ]
    if segments:
        session.execute(_insert(session, Segment).on_conflict_do_nothing(), segments)
    return match_id


def list_matches(session: Session, min_score: float = 0.0, scan_id: int | None = None) -> list[MatchRecord]:
    query = select(Match).where(Match.score >= min_score)
    if scan_id is not None:
        query = query.where(Match.scan_id == scan_id)
    matches = list(session.scalars(query.order_by(Match.score.desc(), Match.id)))
    segments: dict[int, list[SegmentRecord]] = defaultdict(list)
    for chunk in _chunks([m.id for m in matches]):
        for s in session.scalars(select(Segment).where(Segment.match_id.in_(chunk)).order_by(Segment.a_start_s)):
            segments[s.match_id].append(SegmentRecord(
                s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s, s.speed, s.frames, tuple(filter(None, (s.edits or "").split(",")))
            ))  # fmt: skip
    return [
        MatchRecord(
            m.id, m.video_a_id, m.video_b_id, m.score, m.matched_s, m.scan_id, tuple(segments[m.id]),
            tuple(filter(None, (m.signals or "pictures").split(","))), m.kind or "copy",
        )  # fmt: skip
        for m in matches
    ]


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of every table (used to prove read-only commands write nothing)."""
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (Account, Video, Upload, Frame, Match, Segment, Scan, SoundPrint)
    }


# --- coordination ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchLink:
    video_a_id: int
    video_b_id: int
    score: float
    scan_id: int | None
    kind: str = "copy"
    id: int = 0


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
    for chunk in _chunks(ids):
        a, b = Video.__table__.alias("a"), Video.__table__.alias("b")
        query = (
            select(Match.id, a.c.duration_s, b.c.duration_s)
            .join(a, a.c.id == Match.video_a_id)
            .join(b, b.c.id == Match.video_b_id)
            .where(Match.id.in_(chunk))
        )
        for mid, da, db in session.execute(query):
            out[mid] = (float(da or 0.0), float(db or 0.0), [])
        query = select(Segment.match_id, Segment.a_start_s, Segment.a_end_s, Segment.b_start_s, Segment.b_end_s, Segment.speed)
        for mid, *segment in session.execute(query.where(Segment.match_id.in_(chunk))):
            out[mid][2].append(tuple(segment))
    return out


def ok_video_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Video.id).where(Video.status == "ok").order_by(Video.id)))


def dated_uploads(session: Session, include_file_times: bool = False) -> list[UploadRecord]:
    """Uploads of fingerprinted videos with an account and a posting time, oldest first."""
    # Columns, not ORM objects: a network investigation has hundreds of thousands of uploads.
    query = (
        select(
            Upload.id, Upload.video_id, Upload.path, Account.handle, Account.platform, Upload.uploaded_at,
            Upload.uploaded_at_source, Upload.url, Upload.title, Upload.gone_at, Upload.file_size, Upload.file_mtime_ns,
        )  # fmt: skip
        .join(Account, Upload.account_id == Account.id)
        .join(Video, Upload.video_id == Video.id)
        .where(Video.status == "ok", Upload.uploaded_at.is_not(None))
    )
    if not include_file_times:
        query = query.where(Upload.uploaded_at_source == "manifest")
    return [
        UploadRecord(uid, vid, path, handle, platform or "", at, source, url, title, gone is not None, size, mtime)
        for uid, vid, path, handle, platform, at, source, url, title, gone, size, mtime in session.execute(
            query.order_by(Upload.uploaded_at, Upload.id)
        )
    ]


def file_time_uploads(session: Session) -> list[tuple[int, int]]:
    """(upload id, video id) of the uploads of fingerprinted videos, with an account, whose only
    time is the file's modification time (no posting time from a manifest)."""
    query = (
        select(Upload.id, Upload.video_id)
        .join(Video, Upload.video_id == Video.id)
        .where(Video.status == "ok", Upload.account_id.is_not(None), Upload.uploaded_at_source != "manifest")
        .order_by(Upload.id)
    )
    return [(uid, vid) for uid, vid in session.execute(query)]


def add_cluster_merges(session: Session, scan_id: int, merges: Iterable[tuple[int, int]]) -> None:
    now = utcnow()
    session.add_all(ClusterMerge(scan_id=scan_id, from_cluster=f, into_cluster=i, merged_at=now) for f, i in merges)


def cluster_merges(session: Session) -> list[tuple[int, int, int]]:
    """(scan_id, from_cluster, into_cluster) of every recorded merge, oldest first."""
    rows = session.execute(select(ClusterMerge.scan_id, ClusterMerge.from_cluster, ClusterMerge.into_cluster).order_by(ClusterMerge.id))
    return [tuple(r) for r in rows]


# --- fingerprint exchange -------------------------------------------------------------------


@dataclass(frozen=True)
class VideoExport:
    sha256: str
    duration_s: float | None
    fps: float | None
    width: int | None
    height: int | None
    algorithm: str
    algorithm_version: int
    frames: list[tuple[float, bytes, int]]  # ts_s, hash, region
    uploads: list[UploadRecord]
    sound: SoundValues | None = None  # the soundtrack's values, when it has any


def videos_for_export(session: Session, batch: int = 200) -> Iterable[VideoExport]:
    """Every fingerprinted video made here (not imported), with frames and uploads, in id order."""
    last = 0
    while True:
        videos = list(
            session.scalars(
                select(Video).where(Video.status == "ok", Video.source.is_(None), Video.id > last).order_by(Video.id).limit(batch)
            )
        )
        if not videos:
            return
        uploads = uploads_of_videos(session, [v.id for v in videos])
        for v in videos:
            frames = session.execute(
                select(Frame.ts_s, Frame.hash, Frame.region).where(Frame.video_id == v.id).order_by(Frame.ts_s, Frame.id)
            ).all()
            yield VideoExport(
                v.sha256, v.duration_s, v.fps, v.width, v.height, v.algorithm, v.algorithm_version,
                [(ts, h, region) for ts, h, region in frames], uploads.get(v.id, []), sound_print_of_video(session, v.id),
            )  # fmt: skip
        last = videos[-1].id


def add_imported_video(session: Session, source: str, video: VideoExport) -> int:
    """Store a partner's video fingerprint under `source`; returns its id."""
    video_id, created = _insert_video(
        session, sha256=video.sha256, size_bytes=0, duration_s=video.duration_s, fps=video.fps, width=video.width,
        height=video.height, status="ok", algorithm=video.algorithm, algorithm_version=video.algorithm_version,
        sampled_frames=len(video.frames), created_at=utcnow(), source=source,
    )  # fmt: skip
    if created:
        session.add_all(Frame(video_id=video_id, ts_s=ts, hash=h, quality=0.0, region=region) for ts, h, region in video.frames)
    return video_id
