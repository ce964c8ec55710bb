"""What every query module shares: the dialect's INSERT ... ON CONFLICT, chunked IN lists, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

#: Rows per IN (...) list: well below SQLite's limit of 32766 bound parameters.
IN_CHUNK = 900


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session, model):
    """INSERT for the session's database, with its ON CONFLICT clauses."""
    return (postgresql.insert if on_postgres(session) else sqlite.insert)(model)


def chunks(items: Sequence, size: int = IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
