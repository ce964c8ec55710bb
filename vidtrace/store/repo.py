"""Queries. Sessions go in, plain dataclasses come out; ORM rows stay inside this module."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vidtrace.align import Alignment
from vidtrace.fingerprint import VideoFingerprint
from vidtrace.hashes import to_matrix
from vidtrace.index import Coverage
from vidtrace.store.models import Account, ClusterMerge, Frame, Match, Scan, Segment, Upload, Video

#: Uploads imported from a partner's fingerprint file have paths starting with this (no file here).
IMPORT_PATH_PREFIX = "import:"
#: Rows per IN (...) list: well below SQLite's limit of 32766 bound parameters.
IN_CHUNK = 900


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


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
    found = session.scalar(select(Account.id).where(Account.platform == platform, Account.handle == handle))
    if found is not None:
        return found
    account = Account(platform=platform, handle=handle)
    session.add(account)
    session.flush()
    return account.id


def _video_record(v: Video) -> VideoRecord:
    return VideoRecord(v.id, v.sha256, v.status, v.error, v.duration_s, v.matched_at is not None, v.source)


def video_by_sha(session: Session, sha256: str) -> VideoRecord | None:
    v = session.scalar(select(Video).where(Video.sha256 == sha256))
    return _video_record(v) if v else None


def videos_by_id(session: Session, ids: Iterable[int]) -> dict[int, VideoRecord]:
    ids = sorted(set(ids))
    out: dict[int, VideoRecord] = {}
    for chunk in _chunks(ids):
        for v in session.scalars(select(Video).where(Video.id.in_(chunk))):
            out[v.id] = _video_record(v)
    return out


def add_video(
    session: Session, sha256: str, size_bytes: int, fingerprint: VideoFingerprint | None, error: str | None = None
) -> tuple[int, list[int]]:
    """Store a fingerprinted video and its frames (or a failed one); returns its id and frame ids."""
    now = utcnow()
    if fingerprint is None:
        video = Video(
            sha256=sha256, size_bytes=size_bytes, status="failed", error=error,
            algorithm="", algorithm_version=0, sampled_frames=0, created_at=now,
        )  # fmt: skip
        session.add(video)
        session.flush()
        return video.id, []
    info = fingerprint.info
    video = Video(
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
    session.add(video)
    session.flush()
    frames = [Frame(video_id=video.id, ts_s=f.ts_s, hash=f.hash, quality=f.quality, region=f.region) for f in fingerprint.frames]
    session.add_all(frames)
    session.flush()
    return video.id, [f.id for f in frames]


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


def add_upload(session: Session, **values) -> int:
    upload = Upload(**values)
    session.add(upload)
    session.flush()
    return upload.id


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
        select(Upload, Account).outerjoin(Account, Upload.account_id == Account.id).where(Upload.gone_at.is_(None))
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
    rows = session.execute(
        select(Frame.ts_s, Frame.hash, Frame.region).where(Frame.video_id == video_id).order_by(Frame.ts_s, Frame.id)
    ).all()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def frame_refs(session: Session, frame_ids: Iterable[int]) -> dict[int, FrameRef]:
    ids = sorted(set(frame_ids))
    out: dict[int, FrameRef] = {}
    for chunk in _chunks(ids):
        query = select(Frame.id, Frame.video_id, Frame.ts_s, Frame.region).where(Frame.id.in_(chunk))
        for fid, vid, ts, region in session.execute(query):
            out[fid] = FrameRef(vid, ts, region)
    return out


# --- matching -------------------------------------------------------------------------------


def videos_to_match(session: Session) -> list[int]:
    return list(session.scalars(select(Video.id).where(Video.status == "ok", Video.matched_at.is_(None)).order_by(Video.id)))


def mark_matched(session: Session, video_id: int) -> None:
    session.execute(update(Video).where(Video.id == video_id).values(matched_at=utcnow()))


def add_match(
    session: Session, video_a_id: int, video_b_id: int, alignment: Alignment, algorithm: str, version: int, scan_id: int | None
) -> int:
    """Store a match; `alignment` is seen from video A's side (query = A). Replaces an older one."""
    if video_a_id > video_b_id:
        video_a_id, video_b_id, alignment = video_b_id, video_a_id, alignment.swapped()
    session.execute(
        delete(Match).where(Match.video_a_id == video_a_id, Match.video_b_id == video_b_id, Match.algorithm_version == version)
    )
    match = Match(
        video_a_id=video_a_id,
        video_b_id=video_b_id,
        score=alignment.score,
        matched_s=alignment.matched_s,
        algorithm=algorithm,
        algorithm_version=version,
        scan_id=scan_id,
        created_at=utcnow(),
    )
    session.add(match)
    session.flush()
    session.add_all(
        Segment(
            match_id=match.id, a_start_s=s.q_start, a_end_s=s.q_end, b_start_s=s.r_start, b_end_s=s.r_end,
            speed=s.speed, frames=s.frames, edits=",".join(s.edits) or None,
        )  # fmt: skip
        for s in alignment.segments
    )
    return match.id


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
        MatchRecord(m.id, m.video_a_id, m.video_b_id, m.score, m.matched_s, m.scan_id, tuple(segments[m.id]))
        for m in matches
    ]


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of every table (used to prove read-only commands write nothing)."""
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (Account, Video, Upload, Frame, Match, Segment, Scan)
    }


# --- coordination ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchLink:
    video_a_id: int
    video_b_id: int
    score: float
    scan_id: int | None


def match_links(session: Session) -> list[MatchLink]:
    rows = session.execute(select(Match.video_a_id, Match.video_b_id, Match.score, Match.scan_id).order_by(Match.id))
    return [MatchLink(*r) for r in rows]


def ok_video_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Video.id).where(Video.status == "ok").order_by(Video.id)))


def dated_uploads(session: Session, include_file_times: bool = False) -> list[UploadRecord]:
    """Uploads of fingerprinted videos with an account and a posting time, oldest first."""
    query = (
        select(Upload, Account)
        .join(Account, Upload.account_id == Account.id)
        .join(Video, Upload.video_id == Video.id)
        .where(Video.status == "ok", Upload.uploaded_at.is_not(None))
    )
    if not include_file_times:
        query = query.where(Upload.uploaded_at_source == "manifest")
    return [_upload_record(u, a) for u, a in session.execute(query.order_by(Upload.uploaded_at, Upload.id))]


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
                [(ts, h, region) for ts, h, region in frames], uploads.get(v.id, []),
            )  # fmt: skip
        last = videos[-1].id


def add_imported_video(session: Session, source: str, video: VideoExport) -> int:
    """Store a partner's video fingerprint under `source`; returns its id."""
    row = Video(
        sha256=video.sha256, size_bytes=0, duration_s=video.duration_s, fps=video.fps, width=video.width,
        height=video.height, status="ok", algorithm=video.algorithm, algorithm_version=video.algorithm_version,
        sampled_frames=len(video.frames), created_at=utcnow(), source=source,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.add_all(Frame(video_id=row.id, ts_s=ts, hash=h, quality=0.0, region=region) for ts, h, region in video.frames)
    return row.id
