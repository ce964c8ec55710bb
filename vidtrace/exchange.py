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
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError

from vidtrace.discover import parse_time
from vidtrace.errors import DependencyError, UsageError
from vidtrace.fingerprint import REGION_FRAME, REGION_LAST
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION, SoundPrint
from vidtrace.hashes import from_hex, to_hex
from vidtrace.progress import Progress, silent
from vidtrace.report import iso
from vidtrace.match_service import match_unmatched
from vidtrace.settings import HASH_ALGORITHM, HASH_SIZE, HASH_VERSION, HASH_WINDOW_S, Settings
from vidtrace.store import repo
from vidtrace.store.db import Store, writer_lock
from vidtrace.store.index_sync import save_index, synced_index

FORMAT = "vidtrace-fingerprints"
FORMAT_VERSION = 1
HASH_BYTES = HASH_SIZE * HASH_SIZE // 8
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX_HASH = re.compile(rf"[0-9a-fA-F]{{{2 * HASH_BYTES}}}")

# What an imported record may hold. A partner's file is untrusted input: every field is checked
# for type and range before anything is stored, and a record that fails is reported and skipped.
#: Longest video accepted (s): a week of footage; more is a broken or forged record.
MAX_DURATION_S = 7 * 86400.0
#: A stated duration may fall short of the last frame's time by one hash window (the last hash
#: covers the half second after its instant); a shorter one is refused, since it would inflate
#: every score computed against the video (matched seconds over the shorter duration).
DURATION_SLACK_S = HASH_WINDOW_S
#: Most frames a second of video can carry: 60 (the whole picture, an inset and the change in
#: four regions every 0.125 s; three other regions every 0.25 s), with room to spare.
MAX_FRAMES_PER_S = 96
MAX_FPS = 1000.0
MAX_SIDE_PX = 65_535
MAX_UPLOADS = 10_000
#: Longest account name (bytes of UTF-8): longer is a forged record, not a handle.
MAX_ACCOUNT_BYTES = 1024
#: Longest URL or title (characters), as for manifests.
MAX_TEXT_CHARS = 4096
MAX_PLATFORM_CHARS = 64
MAX_FILE_NAME_BYTES = 255


@dataclass(frozen=True)
class ImportSummary:
    source: str
    videos: int
    already_known: int
    new_matches: list[int]
    #: one "FILE:LINE: bad video record: reason" per record skipped
    problems: list[str] = field(default_factory=list)


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
    record = {
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
                "account": u.account, "platform": u.platform or None, "uploaded_at": iso(u.uploaded_at)
                if u.uploaded_at_source == "manifest" else None,
                "url": u.url, "title": u.title, "file": os.path.basename(u.path),
            }  # fmt: skip
            for u in v.uploads
        ]
    return record


@contextlib.contextmanager
def _new_file(path: Path):
    """A binary file that becomes `path` (atomically, replacing it) when the block ends without
    an error, and leaves nothing behind otherwise."""
    folder = path.parent
    _remove_stale_partials(path)
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
                raise UsageError(f"{path}: fingerprint file version {header.get('version')!r} (this vidtrace reads {FORMAT_VERSION})")
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


class BadRecord(ValueError):
    """A video record that cannot be imported; the message says why."""


def _number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(f"{name} must be a number, not {_kind(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRecord(f"{name} {value!r} is out of range ({low:g} to {high:g})")
    return float(value)


def _whole(value, name: str, low: int, high: int) -> int:
    number = _number(value, name, low, high)
    if number != int(number):
        raise BadRecord(f"{name} {value!r} is not a whole number")
    return int(number)


def _text(value, name: str, max_chars: int | None = None, max_bytes: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{name} must be text or null, not {_kind(value)}")
    if "\x00" in value:
        raise BadRecord(f"{name} contains a NUL byte")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise BadRecord(f"{name} is not valid Unicode text (a lone surrogate)") from e
    if max_chars is not None and len(value) > max_chars:
        raise BadRecord(f"{name} is longer than {max_chars} characters")
    if max_bytes is not None and size > max_bytes:
        raise BadRecord(f"{name} is longer than {max_bytes} bytes")
    return value


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _video(record) -> repo.VideoExport:
    """The record as a video to store; raises BadRecord with the reason when any field is wrong."""
    if not isinstance(record, dict):
        raise BadRecord(f"a record must be a JSON object, not {_kind(record)}")
    sha = record.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise BadRecord("sha256 must be 64 lowercase hex digits")
    raw_frames = record.get("frames")
    if not isinstance(raw_frames, list) or not raw_frames:
        raise BadRecord("frames must be a non-empty list")
    frames = []
    for n, f in enumerate(raw_frames):
        if not isinstance(f, list) or len(f) not in (2, 3):
            raise BadRecord(f"frames[{n}] must be [seconds, hex hash] or [seconds, hex hash, region]")
        ts = _number(f[0], f"frames[{n}] time", 0.0, MAX_DURATION_S)
        if not isinstance(f[1], str) or not _HEX_HASH.fullmatch(f[1]):
            raise BadRecord(f"frames[{n}] hash must be {2 * HASH_BYTES} hex digits ({HASH_BYTES * 8} bits)")
        region = _whole(f[2], f"frames[{n}] region", REGION_FRAME, REGION_LAST) if len(f) > 2 else REGION_FRAME
        frames.append((ts, from_hex(f[1]), region))
    last_ts = max(ts for ts, _, _ in frames)
    duration = record.get("duration_s")
    if duration is None:
        duration_s = last_ts
    else:
        duration_s = _number(duration, "duration_s", 0.0, MAX_DURATION_S)
        if duration_s + DURATION_SLACK_S < last_ts:
            raise BadRecord(f"duration_s {duration_s:g} is shorter than its frames, which run to {last_ts:g} s")
    if len(frames) > MAX_FRAMES_PER_S * (duration_s + 1):
        raise BadRecord(f"{len(frames)} frames are more than a video of {duration_s:g} s can have")
    fps = None if record.get("fps") is None else _number(record["fps"], "fps", 0.0, MAX_FPS)
    width = None if record.get("width") is None else _whole(record["width"], "width", 1, MAX_SIDE_PX)
    height = None if record.get("height") is None else _whole(record["height"], "height", 1, MAX_SIDE_PX)
    sound = _sound(record.get("sound"), duration_s)
    return repo.VideoExport(sha, duration_s, fps, width, height, HASH_ALGORITHM, HASH_VERSION, frames, [], sound)


def _sound(value, duration_s: float) -> SoundPrint | None:
    """A record's sound print: None when it has none or was made by another sound algorithm."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecord("sound must be an object")
    if (value.get("algorithm"), value.get("version")) != (SOUND_ALGORITHM, SOUND_VERSION):
        return None
    step_s = _number(value.get("step_s"), "sound step_s", 0.0, 1.0)
    if abs(step_s - SOUND_STEP_S) > 1e-6:
        raise BadRecord(f"sound step_s {step_s:g} is not {SOUND_STEP_S:.6f} for {SOUND_ALGORITHM} v{SOUND_VERSION}")
    values = value.get("values")
    if not isinstance(values, str) or len(values) % 8 or not re.fullmatch(r"[0-9a-fA-F]*", values):
        raise BadRecord("sound values must be hex digits, 8 per value")
    count = len(values) // 8
    if count > duration_s / SOUND_STEP_S + 2:
        raise BadRecord(f"{count} sound values are more than {duration_s:g} s of sound can have")
    return SoundPrint.from_bytes(bytes.fromhex(values))


@dataclass(frozen=True)
class _Upload:
    account: str | None
    platform: str
    uploaded_at: object
    url: str | None
    title: str | None
    file: str | None


def _uploads(record: dict) -> list[_Upload]:
    raw = record.get("uploads")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRecord(f"uploads must be a list, not {_kind(raw)}")
    if len(raw) > MAX_UPLOADS:
        raise BadRecord(f"more than {MAX_UPLOADS} uploads")
    uploads = []
    for n, u in enumerate(raw):
        if not isinstance(u, dict):
            raise BadRecord(f"uploads[{n}] must be an object, not {_kind(u)}")
        when = _text(u.get("uploaded_at"), f"uploads[{n}].uploaded_at", max_chars=64)
        try:
            uploaded_at = parse_time(when) if when else None
        except OverflowError as e:
            raise BadRecord(f"uploads[{n}].uploaded_at {when!r} is out of range") from e
        except ValueError as e:
            raise BadRecord(f"uploads[{n}].uploaded_at {when!r} is not an ISO 8601 time") from e
        uploads.append(
            _Upload(
                account=_text(u.get("account"), f"uploads[{n}].account", max_bytes=MAX_ACCOUNT_BYTES) or None,
                platform=_text(u.get("platform"), f"uploads[{n}].platform", max_chars=MAX_PLATFORM_CHARS) or "",
                uploaded_at=uploaded_at,
                url=_text(u.get("url"), f"uploads[{n}].url", max_chars=MAX_TEXT_CHARS),
                title=_text(u.get("title"), f"uploads[{n}].title", max_chars=MAX_TEXT_CHARS),
                file=_text(u.get("file"), f"uploads[{n}].file", max_bytes=MAX_FILE_NAME_BYTES),
            )
        )
    return uploads


def import_file(store: Store, path: Path, source: str, settings: Settings | None = None, progress: Progress = silent) -> ImportSummary:
    """Load a partner's fingerprints as `source`, then match them against everything stored.

    Each record is checked in full before anything of it is stored; a bad record is skipped and
    listed in `problems` ("FILE:LINE: bad video record: reason"), and the others are imported.
    """
    if not _SOURCE_NAME.match(source):
        raise UsageError(f"source name {source!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    settings = settings or Settings()
    imported = known = 0
    problems: list[str] = []
    with writer_lock(store.location):
        with store.session() as session:
            for number, record, error in _read(Path(path)):
                progress("importing", number - 1, 0, item=f"{path}:{number}")
                try:
                    if error is not None:
                        raise BadRecord(error)
                    video = _video(record)
                    uploads = _uploads(record)
                except BadRecord as e:
                    problems.append(f"{path}:{number}: bad video record: {e}")
                    continue
                if repo.video_by_sha(session, video.sha256) is not None:
                    known += 1
                    continue
                try:
                    with session.begin_nested():
                        _store(session, source, video, uploads)
                except (DataError, IntegrityError) as e:
                    problems.append(f"{path}:{number}: bad video record: refused by the database ({e.orig})")
                    continue
                imported += 1
            session.commit()
        index = synced_index(store)
        with store.session() as session:
            matches = match_unmatched(session, index, settings, scan_id=None, progress=progress)
        save_index(store, index)
    return ImportSummary(source, imported, known, matches, problems)


def _store(session, source: str, video: repo.VideoExport, uploads: list[_Upload]) -> None:
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
