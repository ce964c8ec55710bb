"""Sharing fingerprints without the videos: export to a file, import a partner's file.

The file is gzip-compressed JSON Lines. The first line is a header:

    {"format": "vidtrace-fingerprints", "version": 1, "algorithm": "phash64", "algorithm_version": 1,
     "exported_at": "...Z", "videos": N, "with_metadata": true}

then one line per video:

    {"sha256": "...", "duration_s": 20.0, "fps": 25.0, "width": 320, "height": 240,
     "frames": [[0.0, "c3a1...", 0], [0.25, "...", 1], ...],    # seconds, hash as hex, region
     "uploads": [{"account": "...", "platform": "...", "uploaded_at": "...Z", "url": "...",
                  "title": "...", "file": "name.mp4"}]}            # only with metadata

Local paths never leave the machine: only the file's base name is exported. An imported video
belongs to its named source; its uploads get the path `import:<source>/<sha256 prefix>/<n>/<file>`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vidtrace.discover import parse_time
from vidtrace.errors import UsageError
from vidtrace.hashes import from_hex, to_hex
from vidtrace.report import iso
from vidtrace.scan import match_unmatched
from vidtrace.settings import HASH_ALGORITHM, HASH_SIZE, HASH_VERSION, Settings
from vidtrace.store import repo
from vidtrace.store.db import Store, writer_lock
from vidtrace.store.index_sync import save_index, synced_index

FORMAT = "vidtrace-fingerprints"
FORMAT_VERSION = 1
HASH_BYTES = HASH_SIZE * HASH_SIZE // 8
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ImportSummary:
    source: str
    videos: int
    already_known: int
    new_matches: list[int]


def export(store: Store, path: Path, with_metadata: bool = True) -> int:
    """Write the fingerprints of every video fingerprinted here; returns how many."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    count = 0
    with store.session() as session, gzip.open(tmp, "wt", encoding="utf-8") as out:
        videos = list(repo.videos_for_export(session))
        header = {
            "format": FORMAT, "version": FORMAT_VERSION, "algorithm": HASH_ALGORITHM, "algorithm_version": HASH_VERSION,
            "exported_at": iso(repo.utcnow()), "videos": len(videos), "with_metadata": with_metadata,
        }  # fmt: skip
        out.write(json.dumps(header) + "\n")
        for v in videos:
            record = {
                "sha256": v.sha256, "duration_s": v.duration_s, "fps": v.fps, "width": v.width, "height": v.height,
                "frames": [[ts, to_hex(h), region] for ts, h, region in v.frames],
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
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def _read(path: Path):
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = json.loads(f.readline() or "null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise UsageError(f"{path}: not a vidtrace fingerprint file")
            if header.get("version") != FORMAT_VERSION:
                raise UsageError(f"{path}: fingerprint file version {header.get('version')} (this vidtrace reads {FORMAT_VERSION})")
            if (header.get("algorithm"), header.get("algorithm_version")) != (HASH_ALGORITHM, HASH_VERSION):
                raise UsageError(
                    f"{path}: fingerprints made with {header.get('algorithm')} v{header.get('algorithm_version')}, "
                    f"this store uses {HASH_ALGORITHM} v{HASH_VERSION}"
                )
            for number, line in enumerate(f, start=2):
                if line.strip():
                    yield number, json.loads(line)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: unreadable fingerprint file ({e})") from e


def _video(record: dict) -> repo.VideoExport:
    frames = [(float(f[0]), from_hex(f[1]), int(f[2]) if len(f) > 2 else 0) for f in record["frames"]]
    if not frames or any(len(h) != HASH_BYTES for _, h, _ in frames):
        raise ValueError("frames must be 64-bit hashes")
    if not re.fullmatch(r"[0-9a-f]{64}", record["sha256"]):
        raise ValueError("sha256 must be 64 hex digits")
    return repo.VideoExport(
        record["sha256"], record.get("duration_s"), record.get("fps"), record.get("width"), record.get("height"),
        HASH_ALGORITHM, HASH_VERSION, frames, [],
    )  # fmt: skip


def import_file(store: Store, path: Path, source: str, settings: Settings | None = None) -> ImportSummary:
    """Load a partner's fingerprints as `source`, then match them against everything stored."""
    if not _SOURCE_NAME.match(source):
        raise UsageError(f"source name {source!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    settings = settings or Settings()
    imported = known = 0
    with writer_lock(store.location):
        with store.session() as session:
            for number, record in _read(Path(path)):
                try:
                    video = _video(record)
                except (KeyError, TypeError, ValueError) as e:
                    raise UsageError(f"{path}:{number}: bad video record ({e})") from e
                if repo.video_by_sha(session, video.sha256) is not None:
                    known += 1
                    continue
                video_id = repo.add_imported_video(session, source, video)
                for n, u in enumerate(record.get("uploads") or []):
                    account = repo.account_id(session, str(u.get("platform") or ""), str(u["account"])) if u.get("account") else None
                    name = os.path.basename(str(u.get("file") or f"upload-{n}"))
                    uploaded_at = parse_time(u["uploaded_at"]) if u.get("uploaded_at") else None
                    repo.add_upload(
                        session, video_id=video_id, account_id=account, path=f"{repo.IMPORT_PATH_PREFIX}{source}/{video.sha256[:12]}/{n}/{name}",
                        uploaded_at=uploaded_at, uploaded_at_source="manifest" if uploaded_at else None,
                        url=u.get("url"), title=u.get("title"), file_size=0, file_mtime_ns=0, first_seen_scan=None,
                    )  # fmt: skip
                imported += 1
            session.commit()
        index = synced_index(store)
        with store.session() as session:
            matches = match_unmatched(session, index, settings, scan_id=None)
        save_index(store, index)
    return ImportSummary(source, imported, known, matches)
