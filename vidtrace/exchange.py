"""Sharing fingerprints without the videos: export to a file, import a partner's file.

The file is gzip-compressed JSON Lines. The first line is a header:

    {"format": "vidtrace-fingerprints", "version": 1, "algorithm": "phash64", "algorithm_version": 1,
     "exported_at": "...Z", "videos": N, "with_metadata": true}

then one line per video:

    {"sha256": "...", "duration_s": 20.0, "fps": 25.0, "width": 320, "height": 240,
     "frames": [[0.0, "c3a1...", 0], [0.25, "...", 1], ...],    # seconds, hash as hex, region
     "sound": {"algorithm": "chromaprint1", "version": 1, "step_s": 0.1238,
               "values": "9a3c01f2..."},                       # when it has a soundtrack: 32-bit
                                                               # values, little-endian, as hex
     "uploads": [{"account": "...", "platform": "...", "uploaded_at": "...Z", "url": "...",
                  "title": "...", "file": "name.mp4"}]}            # only with metadata

A sound print made by another sound algorithm or version is left out on import (the pictures
are still imported); a malformed one makes the record bad.

Local paths never leave the machine: only the file's base name is exported. An imported video
belongs to its named source; its uploads get the path `import:<source>/<sha256 prefix>/<n>/<file>`.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError

from vidtrace.errors import DependencyError, UsageError
from vidtrace.hashes import to_hex
from vidtrace.index.sync import save_index, synced_index
from vidtrace.match_service import NewFrames, match_unmatched
from vidtrace.progress import Progress, silent
from vidtrace.records import BadRecord, Upload, uploads_of, video_of
from vidtrace.report import iso
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION, Settings
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION
from vidtrace.store import repo
from vidtrace.store.db import Store, writer_lock

FORMAT = "vidtrace-fingerprints"
FORMAT_VERSION = 1
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ImportSummary:
    source: str
    videos: int
    already_known: int
    new_matches: list[int]
    #: one "FILE:LINE: bad video record: reason" per record skipped
    problems: list[str] = field(default_factory=list)
    #: videos imported before with an older hash version, given this file's fingerprint
    updated: int = 0


def export(store: Store, path: Path, with_metadata: bool = True) -> int:
    """Write the fingerprints of every video fingerprinted here; returns how many.

    The file appears whole or not at all: it is written to an unnamed temporary file in the
    target's folder (which vanishes with the process however it ends) and given its name once
    complete. Where the file system has no unnamed files, a hidden `.NAME.partial` is used
    instead, removed on any error and replaced by the next export if a killed run left it.
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise UsageError(f"{path} is a folder")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: no such folder")
    count = 0
    try:
        with _new_file(path) as raw, store.session() as session:
            with gzip.GzipFile(fileobj=raw, mode="wb", filename="") as zipped:
                out = _TextWriter(zipped)
                videos = list(repo.videos_for_export(session))
                header = {
                    "format": FORMAT, "version": FORMAT_VERSION, "algorithm": HASH_ALGORITHM, "algorithm_version": HASH_VERSION,
                    "sound_algorithm": SOUND_ALGORITHM, "sound_version": SOUND_VERSION,
                    "exported_at": iso(repo.utcnow()), "videos": len(videos), "with_metadata": with_metadata,
                }  # fmt: skip
                out.write(json.dumps(header) + "\n")
                for v in videos:
                    out.write(json.dumps(_export_record(v, with_metadata), ensure_ascii=False) + "\n")
                    count += 1
    except OSError as e:
        raise DependencyError(f"cannot write {path}: {e.strerror or e}") from e
    return count


class _TextWriter:
    def __init__(self, binary):
        self.binary = binary

    def write(self, text: str) -> None:
        self.binary.write(text.encode("utf-8"))


def _export_record(v: repo.VideoExport, with_metadata: bool) -> dict:
    record: dict[str, object] = {
        "sha256": v.sha256, "duration_s": v.duration_s, "fps": v.fps, "width": v.width, "height": v.height,
        "frames": [[ts, to_hex(h), region] for ts, h, region in v.frames],
    }  # fmt: skip
    if v.sound is not None and len(v.sound):
        record["sound"] = {
            "algorithm": v.sound.algorithm, "version": v.sound.version, "step_s": v.sound.step_s,
            "values": v.sound.to_bytes().hex(),
        }  # fmt: skip
    if with_metadata:
        record["uploads"] = [
            {
                "account": u.account,
                "platform": u.platform or None,
                "uploaded_at": iso(u.uploaded_at) if u.uploaded_at_source == "manifest" else None,
                "url": u.url,
                "title": u.title,
                "file": os.path.basename(u.path),
            }
            for u in v.uploads
        ]
    return record


@contextlib.contextmanager
def _new_file(path: Path):
    """A binary file that becomes `path` (atomically, replacing it) when the block ends without
    an error, and leaves nothing behind otherwise."""
    folder = path.parent
    _remove_stale_partials(path)
    fd: int | None
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
        if not os.path.isdir("/proc/self/fd"):
            os.close(fd)
            fd = None
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            # Named only now, under a temporary name, then renamed over the target.
            tmp = folder / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
            _link_open_file(f.fileno(), tmp)
        try:
            os.replace(tmp, path)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        return
    tmp = path.with_name(f".{path.name}.partial")  # a killed run's leftover is overwritten
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


_PARTIAL_PID = re.compile(r"\.(\d+)-[0-9a-f]+\.partial$")


def _remove_stale_partials(path: Path) -> None:
    """Remove the hidden partial files of `path` that a killed export left: `.NAME.partial`, and
    `.NAME.PID-XXXX.partial` whose process is gone."""
    for partial in path.parent.glob(f".{glob.escape(path.name)}.*partial"):
        match = _PARTIAL_PID.search(partial.name)
        if match and int(match.group(1)) != os.getpid() and _alive(int(match.group(1))):
            continue
        if match or partial.name == f".{path.name}.partial":
            partial.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _link_open_file(fd: int, target: Path) -> None:
    """Give the unnamed file open as `fd` the name `target` (linkat through /proc, following the
    descriptor's link: plain link() would link the /proc entry itself)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), target, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _read(path: Path):
    """(line number, record or None, problem or None) for each video line of a fingerprint file."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            try:
                header = json.loads(f.readline() or "null")
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}: not a vidtrace fingerprint file ({e})") from e
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise UsageError(f"{path}: not a vidtrace fingerprint file")
            if header.get("version") != FORMAT_VERSION:
                raise UsageError(
                    f"{path}: fingerprint file version {header.get('version')!r} (this vidtrace reads {FORMAT_VERSION})"
                )
            if (header.get("algorithm"), header.get("algorithm_version")) != (HASH_ALGORITHM, HASH_VERSION):
                raise UsageError(
                    f"{path}: fingerprints made with {header.get('algorithm')!r} v{header.get('algorithm_version')!r}, "
                    f"this store uses {HASH_ALGORITHM} v{HASH_VERSION}"
                )
            for number, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line), None
                except (json.JSONDecodeError, RecursionError) as e:
                    yield number, None, f"not valid JSON ({getattr(e, 'msg', e)})"
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: unreadable fingerprint file ({e})") from e


def import_file(
    store: Store, path: Path, source: str, settings: Settings | None = None, progress: Progress = silent
) -> ImportSummary:
    """Load a partner's fingerprints as `source`, then match them against everything stored.

    Each record is checked in full before anything of it is stored; a bad record is skipped and
    listed in `problems` ("FILE:LINE: bad video record: reason"), and the others are imported.
    """
    if not _SOURCE_NAME.match(source):
        raise UsageError(f"source name {source!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    settings = settings or Settings()
    imported = known = updated = 0
    new_frames = NewFrames()
    problems: list[str] = []
    with writer_lock(store.location):
        with store.session() as session:
            for number, record, error in _read(Path(path)):
                progress("importing", number - 1, 0, item=f"{path}:{number}")
                try:
                    if error is not None:
                        raise BadRecord(error)
                    video = video_of(record)
                    uploads = uploads_of(record)
                except BadRecord as e:
                    problems.append(f"{path}:{number}: bad video record: {e}")
                    continue
                stored = repo.video_by_sha(session, video.sha256)
                if stored is not None and not _older_import(stored, video):
                    known += 1
                    continue
                if stored is not None:  # imported before, hashed by an older version: this one's frames
                    with session.begin_nested():
                        repo.replace_imported_fingerprint(session, stored.id, video)
                        repo.set_sound_print(
                            session, stored.id, video.sound, SOUND_ALGORITHM, SOUND_VERSION, SOUND_STEP_S
                        )
                    new_frames.remember(stored.id, video.frames)
                    updated += 1
                    continue
                try:
                    with session.begin_nested():
                        video_id = _store(session, source, video, uploads)
                except (DataError, IntegrityError) as e:
                    problems.append(f"{path}:{number}: bad video record: refused by the database ({e.orig})")
                    continue
                new_frames.remember(video_id, video.frames)  # matched without reading them back
                imported += 1
            session.commit()
        index = synced_index(store)
        with store.session() as session:
            matches = match_unmatched(
                session, index, settings, scan_id=None, progress=progress, fingerprints=new_frames
            )
        save_index(store, index)
    return ImportSummary(source, imported, known, matches, problems, updated)


def _older_import(stored: repo.VideoRecord, video: repo.VideoExport) -> bool:
    """Whether a stored video came from an import and was hashed by an older version of the same
    algorithm than this record (a video fingerprinted here is brought up to date by a rescan)."""
    return (
        stored.status == "ok" and stored.source is not None and stored.algorithm == video.algorithm
        and stored.algorithm_version < video.algorithm_version
    )  # fmt: skip


def _store(session, source: str, video: repo.VideoExport, uploads: list[Upload]) -> int:
    video_id = repo.add_imported_video(session, source, video)
    repo.set_sound_print(session, video_id, video.sound, SOUND_ALGORITHM, SOUND_VERSION, SOUND_STEP_S)
    for n, u in enumerate(uploads):
        account = repo.account_id(session, u.platform, u.account) if u.account else None
        name = os.path.basename(u.file or f"upload-{n}") or f"upload-{n}"
        repo.add_upload(
            session, video_id=video_id, account_id=account, path=f"{repo.IMPORT_PATH_PREFIX}{source}/{video.sha256[:12]}/{n}/{name}",
            uploaded_at=u.uploaded_at, uploaded_at_source="manifest" if u.uploaded_at else None,
            url=u.url, title=u.title, file_size=0, file_mtime_ns=0, first_seen_scan=None,
        )  # fmt: skip
    return video_id
