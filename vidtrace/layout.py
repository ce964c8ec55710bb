"""The store folder's layout (every name under it) and atomic file writes.

A store folder holds:

- `vidtrace.db`: the SQLite database (with SQLite's own `-wal` and `-shm` files beside it), unless
  the database is a server;
- `frames.faiss` and its record `frames.faiss.json`: the frame index, or instead its shards
  `frames.shard-K-of-N.faiss` (each with its `.json` record);
- `sounds.faiss` and `sounds.faiss.json`: the sound index;
- `writer.lock`: the writer lock (an advisory `flock`; it holds the writer's pid).

Index files are derived from the database and written atomically: a temporary file beside the
target (a dot name, so never taken for an index), flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: The store folder when neither --store nor VIDTRACE_STORE names one (relative to the working folder).
DEFAULT_STORE_DIR = "vidtrace-store"
DB_FILENAME = "vidtrace.db"
INDEX_FILENAME = "frames.faiss"
SOUND_INDEX_FILENAME = "sounds.faiss"
LOCK_FILENAME = "writer.lock"
#: Appended to an index file's name for the JSON record of what it covers.
RECORD_SUFFIX = ".json"

_SHARD_NAME = re.compile(r"\.shard-(\d+)-of-(\d+)$")


def db_path(root: Path) -> Path:
    return Path(root) / DB_FILENAME


def index_path(root: Path) -> Path:
    return Path(root) / INDEX_FILENAME


def sound_index_path(root: Path) -> Path:
    return Path(root) / SOUND_INDEX_FILENAME


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_FILENAME


def record_path(path: Path) -> Path:
    """The JSON record saved beside an index file: frames.faiss.json."""
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def shard_path(path: Path, shard: int, shards: int) -> Path:
    """Where shard `shard` of `shards` of the index at `path` lives: frames.shard-0-of-4.faiss."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard-{shard}-of-{shards}{path.suffix}")


def shard_files(path: Path) -> dict[tuple[int, int], Path]:
    """Every shard index file (with its record) beside `path`, keyed by (shard, shards)."""
    path = Path(path)
    found: dict[tuple[int, int], Path] = {}
    if not path.parent.is_dir():
        return found
    for candidate in path.parent.glob(f"{path.stem}.shard-*-of-*{path.suffix}{RECORD_SUFFIX}"):
        index_file = candidate.with_suffix("")
        match = _SHARD_NAME.search(index_file.stem) if index_file.suffix == path.suffix else None
        if match and index_file.stem[: match.start()] == path.stem:
            found[(int(match[1]), int(match[2]))] = index_file
    return found


def shard_counts(path: Path) -> set[int]:
    """The shard counts of the shard files beside `path` (empty: the index is not sharded)."""
    return {shards for _, shards in shard_files(path)}


def index_files(path: Path) -> list[Path]:
    """An index file and its record, as far as they exist."""
    return [p for p in (Path(path), record_path(path)) if p.exists()]


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[str]:
    """A temporary file name beside `path` to write to; once the block ends without error the
    file is flushed to disk and renamed over `path` (else removed). Readers see the old file or
    the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _sync_folder(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` (text as UTF-8) to `path` atomically (see `atomic_file`)."""
    raw = data.encode() if isinstance(data, str) else data
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)


def _sync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
