"""Uploads: one appearance of a video (an account, a path, a posting time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidtrace.results.records import UploadRecord
from vidtrace.store.models import Account, Upload, Video
from vidtrace.store.sql import chunks, dialect_insert

#: Uploads imported from a partner's fingerprint file have paths starting with this (no file here).
IMPORT_PATH_PREFIX = "import:"


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
        select(Upload, Account)
        .outerjoin(Account, Upload.account_id == Account.id)
        .where(Upload.video_id == video_id, cond)
    )
    return [_upload_record(u, a) for u, a in rows]


def add_upload(session: Session, **values) -> int | None:
    """The new upload's id; None when an upload of that path and account exists (another writer's)."""
    return session.scalar(
        dialect_insert(session, Upload).values(**values).on_conflict_do_nothing().returning(Upload.id)
    )


def update_upload(session: Session, upload_id: int, **values) -> None:
    session.execute(update(Upload).where(Upload.id == upload_id).values(**values))


def uploads_of_videos(session: Session, video_ids: Iterable[int]) -> dict[int, list[UploadRecord]]:
    ids = sorted(set(video_ids))
    out: dict[int, list[UploadRecord]] = defaultdict(list)
    for chunk in chunks(ids):
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


def dated_uploads(session: Session, include_file_times: bool = False) -> list[UploadRecord]:
    """Uploads of fingerprinted videos with an account and a posting time, oldest first."""
    # Columns, not ORM objects: a network investigation has hundreds of thousands of uploads.
    query = (
        select(
            Upload.id,
            Upload.video_id,
            Upload.path,
            Account.handle,
            Account.platform,
            Upload.uploaded_at,
            Upload.uploaded_at_source,
            Upload.url,
            Upload.title,
            Upload.gone_at,
            Upload.file_size,
            Upload.file_mtime_ns,
        )
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
