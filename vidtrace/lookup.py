"""Lookup: where else does this clip appear? Read-only: the database is never written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidtrace.errors import InputError
from vidtrace.fingerprint import fingerprint_file
from vidtrace.matching import VideoMatch, find_matches
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store
from vidtrace.store.index_sync import synced_index


@dataclass(frozen=True)
class LookupResult:
    path: str
    duration_s: float
    matches: list[VideoMatch]
    uploads: dict[int, list[repo.UploadRecord]]
    sources: dict[int, str | None]  # None: fingerprinted here; else the partner source it was imported from


def lookup(store: Store, path: Path, settings: Settings | None = None, top: int | None = None) -> LookupResult:
    """Stored videos sharing segments with the file at `path` (ingested or not), best first."""
    settings = settings or Settings()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "not found or not a file")
    fingerprint = fingerprint_file(path, settings)
    # The index file is derived data: rebuilding it when missing or stale is allowed here.
    index = synced_index(store)
    with store.session() as session:
        matches = find_matches(
            session, index, [f.ts_s for f in fingerprint.frames], [f.hash for f in fingerprint.frames],
            fingerprint.duration_s, settings, regions=[f.region for f in fingerprint.frames],
        )  # fmt: skip
        if top is not None:
            matches = matches[:top]
        uploads = repo.uploads_of_videos(session, [m.video_id for m in matches])
        sources = {v.id: v.source for v in repo.videos_by_id(session, [m.video_id for m in matches]).values()}
        session.rollback()
    return LookupResult(str(path), fingerprint.duration_s, matches, dict(uploads), sources)
