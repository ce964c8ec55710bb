"""Database failures as the library's errors (exit 3), each with what to do about it."""

from __future__ import annotations

from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from vidtrace.errors import DependencyError, VidtraceError


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


#: What SQLite says of a file that is not (or no longer) a database.
_SQLITE_CORRUPT = ("file is not a database", "malformed", "file is encrypted", "not a database")
_DISK_FULL = ("database or disk is full", "no space left on device", "disk full")


class StoreCorruptError(DependencyError):
    """The store's SQLite file cannot be read as a database."""


def database_error(url: str, error: DBAPIError) -> VidtraceError:
    """The library error (exit 3) for a database failure, with what to do about it.

    A corrupt SQLite file, a full disk and a lost or unreachable server each get their own
    one-line message; anything else is reported with the database's own words.
    """
    orig = error.orig if error.orig is not None else error
    lines = str(orig).strip().splitlines()
    detail = lines[0] if lines else type(orig).__name__
    text = detail.lower()
    sqlite = url.startswith("sqlite")
    if sqlite and any(s in text for s in _SQLITE_CORRUPT):
        database = make_url(url).database or url
        return StoreCorruptError(
            f"{database} is not a readable SQLite database ({detail}); "
            "restore it from a backup or move it away and re-ingest"
        )
    if any(s in text for s in _DISK_FULL):
        return DependencyError(f"the database {_redact(url)} cannot write: the disk is full ({detail})")
    if isinstance(error, OperationalError) or error.connection_invalidated:
        return DependencyError(f"cannot reach database {_redact(url)} (lost or refused): {detail}")
    return DependencyError(f"database {_redact(url)} failed: {detail}")
