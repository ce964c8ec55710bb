"""Fingerprints shared without the videos: what an export reads and an import stores."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidtrace.results.records import VideoExport
from vidtrace.store.models import Frame, Video
from vidtrace.store.sounds import sound_print_of_video
from vidtrace.store.sql import utcnow
from vidtrace.store.uploads import uploads_of_videos
from vidtrace.store.videos import add_frames, insert_video, replace_frames


def videos_for_export(session: Session, batch: int = 200) -> Iterable[VideoExport]:
    """Every fingerprinted video made here (not imported), with frames and uploads, in id order."""
    last = 0
    while True:
        videos = list(
            session.scalars(
                select(Video)
                .where(Video.status == "ok", Video.source.is_(None), Video.id > last)
                .order_by(Video.id)
                .limit(batch)
            )
        )
        if not videos:
            return
        uploads = uploads_of_videos(session, [v.id for v in videos])
        for v in videos:
            frames = session.execute(
                select(Frame.ts_s, Frame.hash, Frame.region)
                .where(Frame.video_id == v.id)
                .order_by(Frame.ts_s, Frame.id)
            ).all()
            yield VideoExport(
                v.sha256, v.duration_s, v.fps, v.width, v.height, v.algorithm, v.algorithm_version,
                [(ts, h, region) for ts, h, region in frames], uploads.get(v.id, []), sound_print_of_video(session, v.id),
            )  # fmt: skip
        last = videos[-1].id


def replace_imported_fingerprint(session: Session, video_id: int, video: VideoExport) -> None:
    """A partner's newer fingerprint of a video stored from an import (its uploads and source
    kept); the video waits to be matched again (see `replace_fingerprint`)."""
    replace_frames(
        session, video_id, _frame_rows(video), ids_wanted=False,
        duration_s=video.duration_s, fps=video.fps, width=video.width, height=video.height,
        algorithm=video.algorithm, algorithm_version=video.algorithm_version, sampled_frames=len(video.frames),
    )  # fmt: skip


def add_imported_video(session: Session, source: str, video: VideoExport) -> int:
    """Store a partner's video fingerprint under `source`; returns its id."""
    video_id, created = insert_video(
        session, sha256=video.sha256, size_bytes=0, duration_s=video.duration_s, fps=video.fps, width=video.width,
        height=video.height, status="ok", algorithm=video.algorithm, algorithm_version=video.algorithm_version,
        sampled_frames=len(video.frames), created_at=utcnow(), source=source,
    )  # fmt: skip
    if created:
        add_frames(session, video_id, _frame_rows(video), ids_wanted=False)
    return video_id


def _frame_rows(video: VideoExport) -> list[tuple[float, bytes, float, int]]:
    """An imported video's frames as `add_frames` writes them (an export carries no quality)."""
    return [(ts, h, 0.0, region) for ts, h, region in video.frames]
