"""The command line's shared parts: global options, the group that maps errors to exit codes, and
the options several commands take."""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass, field

import click
from sqlalchemy.exc import DBAPIError

from vidtrace import progress, report
from vidtrace.config import CaseConfig
from vidtrace.errors import UsageError, VidtraceError
from vidtrace.settings import Settings
from vidtrace.store import db

log = logging.getLogger("vidtrace.cli")


#: Options of the whole command line: also accepted after the command (moved before it).
GLOBAL_FLAGS = ("-v", "-vv", "-vvv", "--verbose", "--quiet")
GLOBAL_VALUED = ("--store", "--db", "--config")


@dataclass
class Options:
    store: str | None
    db_url: str | None
    verbose: int
    quiet: bool
    config: CaseConfig = field(default_factory=CaseConfig)

    @property
    def location(self) -> db.StoreLocation:
        store = self.store or os.environ.get("VIDTRACE_STORE") or self.config.store
        db_url = self.db_url or os.environ.get("VIDTRACE_DB") or self.config.db
        return db.StoreLocation.resolve(store, db_url)

    def open(self, create: bool, read_only: bool = False) -> db.Store:
        """The store, closed (connections released) when the command ends. A command that only
        reads opens it `read_only`, and says so when a writer is busy with it.

        What exists once the store is open (the modules the command imported, their tables, the
        store) lives as long as the command: it is left out of the garbage collector's passes,
        which would otherwise walk it each time (0.2 s in a lookup, and 0.3 s more at its exit)."""
        store = db.Store.open(self.location, create=create, read_only=read_only)
        gc.freeze()
        click.get_current_context().call_on_close(store.close)
        if read_only and (writer := db.active_writer(self.location)) is not None:
            click.echo(
                f"note: an ingest or rescan (pid {report.safe_text(writer)}) is writing to this store: "
                "what it has not committed yet is not in this answer",
                err=True,
            )
        return store

    def case(self, create: bool, ffmpeg: str | None = None, read_only: bool = False):
        """The store as the Python API sees it (`vidtrace.api.Case`)."""
        from vidtrace.api import Case

        return Case(self.open(create, read_only), settings_of(ffmpeg))

    def display(self):
        """The progress display: a bar on a terminal, timestamped lines in a log, nothing if quiet."""
        env = os.environ.get("VIDTRACE_PROGRESS_INTERVAL_S")
        if env:
            try:
                interval = float(env)
            except ValueError as e:
                raise UsageError(f"VIDTRACE_PROGRESS_INTERVAL_S={env!r} is not a number") from e
        elif self.config.progress_interval_s is not None:
            interval = self.config.progress_interval_s
        else:
            interval = progress.PROGRESS_INTERVAL_S
        shown = progress.display(self.quiet, interval)
        click.get_current_context().call_on_close(shown.stop)  # also when the command fails
        return shown


def hoist_global_options(args: list[str]) -> list[str]:
    """`vidtrace ingest --store s x/` as `vidtrace --store s ingest x/`: global options given after
    the command are moved before it (up to a `--`)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # the options before the command
        i += 2 if args[i] in GLOBAL_VALUED else 1
    rest, moved = args[i + 1 :], []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept += rest[j:]
            break
        if token in GLOBAL_FLAGS:
            moved.append(token)
        elif token in GLOBAL_VALUED and j + 1 < len(rest):
            moved += rest[j : j + 2]
            j += 1
        elif token.split("=", 1)[0] in GLOBAL_VALUED and "=" in token:
            moved.append(token)
        else:
            kept.append(token)
        j += 1
    if not moved or i >= len(args):
        return args
    return args[:i] + moved + [args[i]] + kept


class VidtraceGroup(click.Group):
    """Maps library errors to `Error: ...` on stderr and the documented exit codes."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidtraceError as e:
            self._fail(ctx, e)
        except DBAPIError as e:  # the database failed mid-command (corrupt file, full disk, lost server)
            self._fail(ctx, db.database_error(_database_url(ctx), e))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)

    @staticmethod
    def _fail(ctx: click.Context, e: VidtraceError):
        verbose = ctx.obj.verbose if isinstance(ctx.obj, Options) else 0
        if verbose >= 2:
            log.exception("traceback")
        click.echo(f"Error: {report.safe_text(e)}", err=True)
        ctx.exit(e.exit_code)


def _database_url(ctx: click.Context) -> str:
    opts = ctx.obj if isinstance(ctx.obj, Options) else Options(None, None, 0, False)
    return opts.location.db_url


def settings_of(ffmpeg: str | None) -> Settings:
    return Settings.from_env(ffmpeg_binary=ffmpeg)


ffmpeg_option = click.option(
    "--ffmpeg", metavar="PATH", help="ffmpeg binary to use instead of the bundled one. Env: VIDTRACE_FFMPEG_BINARY."
)
scheduler_option = click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Fingerprint on a Dask distributed cluster (workers must see the same paths).",
)
workers_option = click.option(
    "--workers", type=click.IntRange(1, 256), default=1, show_default=True, help="Processes decoding in parallel."
)
