"""What every query module shares: the dialect's INSERT ... ON CONFLICT, chunked IN lists, the
driver's plain rows for the hottest reads, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

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


def driver_rows(session: Session, sql: str, ids: Sequence[int], batch: int = 10_000) -> Iterator[tuple]:
    """The rows of `sql`, a SELECT whose `{ids}` is filled with `ids` as integer literals, as the
    database driver's tuples, in the session's transaction, `batch` at a time from the cursor.
    For the reads of hundreds of thousands of stored frames a lookup makes: building a SQLAlchemy
    row for each cost three times the query. Only integers (`int` of each id) are written into the
    text, and one text serves both drivers' parameter styles."""
    if not len(ids):
        return
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql.format(ids=",".join(map(str, map(int, ids)))))
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()
