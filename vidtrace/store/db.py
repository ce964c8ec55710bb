"""Where the store lives, how to connect to it, its migrations and its writer lock."""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, func, inspect, make_url, select, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from vidtrace import layout
from vidtrace.errors import DependencyError, StoreBusyError, UsageError
from vidtrace.layout import DB_FILENAME, DEFAULT_STORE_DIR, INDEX_FILENAME, LOCK_FILENAME  # noqa: F401 - names callers use
from vidtrace.store.db_errors import StoreCorruptError, _redact, database_error  # noqa: F401 - names callers use

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

#: The newest migration's revision (`migrations/versions/`; a test holds it to Alembic's head):
#: a store at it opens without loading Alembic and parsing every migration, a third of a second
#: of every command.
HEAD_REVISION = "0011"

#: How long SQLite waits for another connection's write to finish (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a writer waits for the writer lock before reporting the store busy (seconds): a
#: reader checking whether a writer is active holds it for an instant.
LOCK_PATIENCE_S = 0.5
#: PostgreSQL advisory lock key held while migrating, so concurrent first runs migrate once.
MIGRATION_LOCK = 0x76696474_6D696772  # "vidtmigr"


@dataclass(frozen=True)
class StoreLocation:
    """The store folder (index, lock, and the SQLite database unless `db_url` points elsewhere)."""

    root: Path
    db_url: str

    @classmethod
    def resolve(cls, store: str | os.PathLike | None = None, db_url: str | None = None) -> StoreLocation:
        root = Path(store or os.environ.get("VIDTRACE_STORE") or DEFAULT_STORE_DIR).absolute()
        url = db_url or os.environ.get("VIDTRACE_DB") or f"sqlite:///{layout.db_path(root)}"
        return cls(root=root, db_url=url)

    @property
    def index_path(self) -> Path:
        return layout.index_path(self.root)

    @property
    def sound_index_path(self) -> Path:
        return layout.sound_index_path(self.root)

    @property
    def lock_path(self) -> Path:
        return layout.lock_path(self.root)

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    def exists(self) -> bool:
        """Whether a database is there to read (always assumed for a server database)."""
        if not self.is_sqlite:
            return True
        database = make_url(self.db_url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return True
        return Path(database).exists()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_read_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_file(location: StoreLocation) -> str | None:
    """The SQLite database file of the store, or None (not a plain file: memory, a URI)."""
    database = make_url(location.db_url).database
    if not location.is_sqlite or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _read_only_uri(database: str) -> str:
    """An SQLite URI opening `database` read-only.

    `mode=ro` sees what a writer commits meanwhile, but on a store in WAL mode it needs the
    `-shm` file, which a read-only place (an evidence archive mounted read-only) cannot create
    when no writer left one: there the file cannot change under us, so it is opened as immutable.
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(database)) + "?mode=ro"
    try:
        probe = sqlite3.connect(uri, uri=True)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return uri
        finally:
            probe.close()
    except sqlite3.Error:
        if os.access(os.path.dirname(os.path.abspath(database)), os.W_OK):
            return uri  # not a read-only place: the connection reports the real fault
        return uri + "&immutable=1"


def make_engine(location: StoreLocation, read_only: bool = False) -> Engine:
    """The engine of the store's database. `read_only` opens SQLite read-only (nothing written,
    not even on a read-only mount); a server database is read in the ordinary way."""
    database = _sqlite_file(location)
    if read_only and database is not None:
        uri = _read_only_uri(database)
        engine = create_engine(
            f"sqlite:///{database}",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=NullPool,
        )
        event.listen(engine, "connect", _sqlite_read_pragmas)
        return engine
    if location.is_sqlite:
        try:
            location.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DependencyError(f"cannot create the store {location.root}: {(e.strerror or str(e)).lower()}") from e
        if not os.access(location.root, os.W_OK):
            read_only_fs = os.statvfs(location.root).f_flag & os.ST_RDONLY
            reason = "read-only file system" if read_only_fs else "permission denied"
            raise DependencyError(f"cannot write to the store {location.root}: {reason}")
    try:
        engine = create_engine(location.db_url)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise DependencyError(f"cannot use database {_redact(location.db_url)}: {e}") from e
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrations_dir() -> Path:
    init = importlib.import_module("vidtrace.migrations").__file__
    assert init is not None, "the migrations are a package on disk"
    return Path(init).parent


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: no migration recorded), read as Alembic records it."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    except DBAPIError as e:
        raise database_error(str(engine.url), e) from e
    if len(versions) > 1:
        raise DependencyError(f"the database records {len(versions)} migration heads ({', '.join(versions)})")
    return versions[0] if versions else None


def _transactional_sqlite(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions also cover DDL.

    Python's sqlite3 driver leaves CREATE and ALTER outside any transaction, so a migration
    killed half-way would leave tables without a migration record. Here every transaction
    starts with an explicit BEGIN IMMEDIATE: the whole migration commits, or nothing does.
    """
    migrating = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(migrating, "connect")
    def connect(dbapi_connection, record):
        _sqlite_pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own

    @event.listens_for(migrating, "begin")
    def begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def upgrade(engine: Engine, revision: str = "head") -> None:
    migrating = _transactional_sqlite(engine) if engine.dialect.name == "sqlite" else engine
    try:
        from alembic import command

        command.upgrade(alembic_config(migrating), revision)
    except DBAPIError as e:
        raise database_error(str(engine.url), e) from e
    finally:
        if migrating is not engine:
            migrating.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


class Store:
    """An open store: engine, sessions, and where its index file lives."""

    def __init__(self, location: StoreLocation, engine: Engine, read_only: bool = False):
        self.location = location
        self.engine = engine
        #: opened by a command that only reads: the database and the index files are never written
        self.read_only = read_only
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, location: StoreLocation, create: bool, read_only: bool = False) -> Store:
        """Open the store, creating or upgrading its schema when `create`; else require it to exist.

        `read_only` (for commands that only read) opens SQLite read-only and keeps index files
        as they are on disk (a stale index is rebuilt in memory only)."""
        if not create and not location.exists():
            raise UsageError(f"no store at {location.root} (run `vidtrace ingest` first, or pass --store)")
        engine = make_engine(location, read_only=read_only and not create)
        try:
            store = cls._checked(location, engine, create)
        except BaseException:
            engine.dispose()
            raise
        store.read_only = read_only and not create
        return store

    @classmethod
    def _checked(cls, location: StoreLocation, engine: Engine, create: bool) -> Store:
        current = current_revision(engine)
        if current == HEAD_REVISION:
            return cls(location, engine)
        head = head_revision()
        if current == head:
            return cls(location, engine)
        if not create:
            raise UsageError(
                f"the database is at revision {current or 'none'}, this vidtrace expects {head}: run `vidtrace db upgrade`"
            )
        # Migrate under the writer lock (never while another run writes, never twice at once).
        with writer_lock(location) if location.is_sqlite else _server_migration_lock(engine):
            current = current_revision(engine)
            if current != head:
                if current is None and inspect(engine).has_table("videos"):
                    raise DependencyError(
                        "the database has vidtrace tables but no migration record; refusing to touch it"
                    )
                log.info("migrating database from %s to %s", current or "empty", head)
                upgrade(engine)
        return cls(location, engine)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _server_migration_lock(engine: Engine) -> Iterator[None]:
    """A database-wide lock for migrations on PostgreSQL (writers on other machines see it too)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    try:
        conn = engine.connect()
    except OperationalError as e:
        raise DependencyError(f"cannot reach database {_redact(str(engine.url))}: {e.orig}") from e
    try:
        conn.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
            conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def scan_lock(location: StoreLocation) -> Iterator[None]:
    """What an ingest or rescan holds while it runs.

    SQLite admits one writer: the store's writer lock. A server database admits many, on one
    machine or several: their rows are kept consistent by unique keys, upserts and row locks (see
    `vidtrace.store.repo`), and each index file is checked against SQL when loaded, so no lock.
    """
    with writer_lock(location) if location.is_sqlite else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def writer_lock(location: StoreLocation) -> Iterator[None]:
    """Hold the store's writer lock: only one ingest or rescan at a time (safe under cron).

    The lock is an advisory `flock` on a file in the store folder; the kernel drops it when the
    process dies, so a crashed run never leaves a stale lock behind.
    """
    try:
        location.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(location.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise DependencyError(f"cannot write to the store {location.root}: {(e.strerror or str(e)).lower()}") from e
    try:
        deadline = time.monotonic() + LOCK_PATIENCE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as e:
                if time.monotonic() < deadline:  # a reader checking for a writer holds it for a moment
                    time.sleep(0.05)
                    continue
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise StoreBusyError(
                    f"another vidtrace ingest or rescan (pid {holder}) is writing to {location.root}; try again when it ends"
                ) from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def active_writer(location: StoreLocation) -> str | None:
    """The pid (as text) of the ingest or rescan writing to the store now, or None.

    Readers ask so that they can say their answer may be incomplete. The check takes the writer
    lock shared for an instant (a writer starting meanwhile waits `LOCK_PATIENCE_S` for it) and
    needs no write access, so it works on a read-only mount too.
    """
    try:
        fd = os.open(location.lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
