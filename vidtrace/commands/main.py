"""`vidtrace`: the command-line entry point."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import DBAPIError

from vidtrace import __version__, progress, report
from vidtrace.config import CaseConfig, load_config
from vidtrace.errors import UsageError, VidtraceError
from vidtrace.commands import network
from vidtrace.commands.doctor import doctor
from vidtrace.commands import index as index_commands
from vidtrace.commands.output import configure_logging, emit_json, output_options
from vidtrace.settings import Settings
from vidtrace.store import db, repo

if TYPE_CHECKING:
    from vidtrace.scan import ScanSummary

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
    config: CaseConfig = CaseConfig()

    @property
    def location(self) -> db.StoreLocation:
        store = self.store or os.environ.get("VIDTRACE_STORE") or self.config.store
        db_url = self.db_url or os.environ.get("VIDTRACE_DB") or self.config.db
        return db.StoreLocation.resolve(store, db_url)

    def open(self, create: bool, read_only: bool = False) -> db.Store:
        """The store, closed (connections released) when the command ends. A command that only
        reads opens it `read_only`, and says so when a writer is busy with it."""
        store = db.Store.open(self.location, create=create, read_only=read_only)
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

        return Case(self.open(create, read_only), _settings(ffmpeg))

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


@click.group(cls=VidtraceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", metavar="DIR", help="Store folder (database and index). Env: VIDTRACE_STORE. Default: ./vidtrace-store")
@click.option("--db", "db_url", metavar="URL", help="Database URL instead of the store's SQLite file. Env: VIDTRACE_DB.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv: debug, tracebacks).")
@click.option("--quiet", is_flag=True, help="Only errors on stderr; no progress.")
@click.option("--config", "config_path", metavar="FILE", help="Case file (TOML) with store, db and option defaults. Default: ./vidtrace.toml if present.")
@click.version_option(__version__, prog_name="vidtrace")
@click.pass_context
def cli(ctx: click.Context, store, db_url, verbose, quiet, config_path):
    """Find re-uploads of the same video across accounts, with the seconds that match.

    Global options (--store, --db, -v, --quiet, --config) go before or after the command.

    \b
    Example:
      vidtrace ingest downloads/           # accounts from downloads/<account>/...
      vidtrace matches
      vidtrace lookup suspect.mp4
    """
    configure_logging(verbose, quiet)
    ctx.obj = Options(store, db_url, verbose, quiet)
    try:
        config = load_config(config_path)
        ctx.default_map = _command_defaults(ctx, config)
    except VidtraceError as e:
        VidtraceGroup._fail(ctx, e)
    ctx.obj.config = config


def _command_defaults(ctx: click.Context, config: CaseConfig) -> dict:
    """The case file's [command] tables as click defaults, each key checked against the command."""
    group = ctx.command
    for name, values in config.defaults.items():
        command = group.commands.get(name) if isinstance(group, click.Group) else None
        if command is None:
            raise UsageError(f"config file {config.path}: [{name}] is no command")
        known = {p.name for p in command.params if isinstance(p, click.Option)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"config file {config.path}: [{name}] has no option {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return config.defaults


def _settings(ffmpeg: str | None) -> Settings:
    return Settings.from_env(ffmpeg_binary=ffmpeg)


ffmpeg_option = click.option(
    "--ffmpeg", metavar="PATH", help="ffmpeg binary to use instead of the bundled one. Env: VIDTRACE_FFMPEG_BINARY."
)
scheduler_option = click.option(
    "--scheduler", metavar="tcp://HOST:PORT", help="Fingerprint on a Dask distributed cluster (workers must see the same paths)."
)
workers_option = click.option(
    "--workers", type=click.IntRange(1, 256), default=1, show_default=True, help="Processes decoding in parallel."
)


def _print_scan(store: db.Store, summary: ScanSummary, fmt: str) -> None:
    with store.session() as session:
        matches = [m for m in repo.list_matches(session) if m.id in set(summary.new_matches)]
        uploads = repo.uploads_of_videos(session, {v for m in matches for v in (m.video_a_id, m.video_b_id)})
    if fmt == "json":
        emit_json({**report.scan_json(summary, matches, uploads), "not_in_manifest": summary.not_in_manifest, "resumed": summary.resumed})
        return
    if fmt == "csv":
        click.echo(report.to_csv(report.MATCH_CSV_HEADERS, report.match_csv_rows(matches, uploads)), nl=False)
        return
    c = summary.counts()
    if summary.resumed:
        click.echo(summary.resumed)
    click.echo(
        f"{summary.kind} (scan {summary.scan_id}): {c['files']} files, {c['new_videos']} new videos, "
        f"{c['new_uploads']} new uploads, {c['moved_uploads']} moved, {c['unchanged_uploads']} unchanged, "
        f"{c['gone_uploads']} gone, {c['new_matches']} new matches, {c['failures']} failed"
    )
    if summary.not_in_manifest:
        click.echo(
            f"{len(summary.not_in_manifest)} file(s) not in manifest, ingested with file times "
            "(no posting time: left out of coordination unless --file-times):"
        )
        for path in summary.not_in_manifest:
            click.echo(f"  not in manifest: {report.safe_text(path)}")
    if summary.sidecar_uploads:
        click.echo(f"{summary.sidecar_uploads} upload(s) took account, time, URL and title from yt-dlp .info.json sidecars")
    if summary.refingerprinted_videos:
        click.echo(f"{summary.refingerprinted_videos} video(s) hashed by an older version fingerprinted again and re-matched")
    if summary.new_clusters or summary.merged_clusters:
        merged = ", ".join(f"{f} into {i}" for f, i in summary.merged_clusters) or "none"
        click.echo(f"{len(summary.new_clusters)} new content cluster(s); merged clusters: {merged}")
    for label, groups in (("new coordinated group", summary.new_groups), ("grown coordinated group", summary.grown_groups)):
        for accounts in groups:
            click.echo(report.safe_text(f"{label}: {', '.join(accounts)}"))
    if matches:
        click.echo("\nNew matches:")
        click.echo(report.match_tables(matches, uploads), nl=False)
    if summary.failures:
        click.echo(f"\n{len(summary.failures)} input(s) failed:")
        for f in summary.failures:
            click.echo(f"  {report.safe_text(f.path)}: {report.safe_text(f.reason)}")


def _finish(ctx: click.Context, summary: ScanSummary) -> None:
    if summary.failures:
        ctx.exit(1)


@cli.command()
@click.argument("paths", metavar="[FOLDER|FILE]...", nargs=-1, type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), help="CSV or JSON Lines: path, account[, uploaded_at, platform, url, title].")
@click.option("--account", metavar="NAME", help="Account of the FILEs given alone (default: their yt-dlp sidecar's, else their folder's name).")
@workers_option
@scheduler_option
@ffmpeg_option
@output_options
@click.pass_context
def ingest(ctx, paths, manifest, account, workers, scheduler, ffmpeg, fmt):
    """Add the videos under FOLDERs (accounts from FOLDER/<account>/...), single FILEs, or a manifest's.

    A video with a yt-dlp sidecar (`clip.info.json`, from --write-info-json) and no manifest row
    takes its account (platform + uploader id), posting time, URL and title from it.

    \b
    Example:
      vidtrace ingest downloads/
      vidtrace ingest suspect.mp4 --account @someone
      vidtrace ingest --manifest collected/manifest.csv
    """
    opts: Options = ctx.obj
    display = opts.display()
    case = opts.case(create=True, ffmpeg=ffmpeg)
    summary = case.ingest(*paths, manifest=manifest, workers=workers, account=account, progress=display, scheduler=scheduler)
    display.close("ingest")
    _print_scan(case.store, summary, fmt)
    _finish(ctx, summary)


@cli.command()
@workers_option
@scheduler_option
@ffmpeg_option
@output_options
@click.pass_context
def rescan(ctx, workers, scheduler, ffmpeg, fmt):
    """Nightly job: re-walk every folder and manifest ingested before; add new, mark gone, match.

    \b
    Example (crontab):
      0 3 * * *  vidtrace --store /data/case --quiet rescan
    """
    opts: Options = ctx.obj
    display = opts.display()
    case = opts.case(create=True, ffmpeg=ffmpeg)
    summary = case.rescan(workers, display, scheduler)
    display.close("rescan")
    _print_scan(case.store, summary, fmt)
    _finish(ctx, summary)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(1), default=None, help="Show only the K best matching videos.")
@ffmpeg_option
@output_options
@click.pass_context
def lookup(ctx, file, top, ffmpeg, fmt):
    """Read-only: where else does this clip appear? Works on files never ingested.

    \b
    Example:
      vidtrace lookup suspect.mp4 --top 10
    """
    display = ctx.obj.display()
    case = ctx.obj.case(create=False, ffmpeg=ffmpeg, read_only=True)
    result = case.lookup(file, top, display)
    # Where the hits belong (clusters, groups): shown in the table and the JSON, not in the CSV.
    snap = case.coordination() if result.matches and fmt != "csv" else None
    display.close("lookup")
    where = case.placement([m.video_id for m in result.matches], snap) if snap is not None else {}
    if fmt == "json":
        emit_json(report.lookup_json(result, where))
    elif fmt == "csv":
        click.echo(report.to_csv(report.LOOKUP_CSV_HEADERS, report.lookup_csv_rows(result)), nl=False)
    elif not result.matches:
        click.echo(f"No match for {report.safe_text(file)} ({result.duration_s:.1f} s).")
    else:
        click.echo(f"{report.safe_text(file)} ({result.duration_s:.1f} s) matches {len(result.matches)} stored video(s):")
        click.echo(report.lookup_tables(result, os.getcwd()), nl=False)
        click.echo(report.placement_text(result, where, snap), nl=False)


@cli.command()
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Hide weaker matches.")
@output_options
@click.pass_context
def matches(ctx, min_score, fmt):
    """Every stored match with its segments and the uploads of both videos.

    \b
    Example:
      vidtrace matches --min-score 0.5 --json
    """
    case = ctx.obj.case(create=False, read_only=True)
    found = case.matches(min_score)
    uploads = case.uploads({v for m in found for v in (m.video_a_id, m.video_b_id)})
    if fmt == "json":
        emit_json(report.matches_json(found, uploads))
    elif fmt == "csv":
        click.echo(report.to_csv(report.MATCH_CSV_HEADERS, report.match_csv_rows(found, uploads)), nl=False)
    elif not found:
        click.echo("No matches stored.")
    else:
        click.echo(report.match_tables(found, uploads), nl=False)


@cli.group(name="db", cls=VidtraceGroup)
def db_group():
    """Database migrations.

    \b
    Example:
      vidtrace db upgrade
    """


@db_group.command()
@click.pass_context
def upgrade(ctx):
    """Migrate the database to the newest schema.

    \b
    Example:
      vidtrace --db postgresql+psycopg://user@host/vidtrace db upgrade
    """
    engine = db.make_engine(ctx.obj.location)
    ctx.call_on_close(engine.dispose)
    db.upgrade(engine)
    click.echo(f"database at revision {db.current_revision(engine)}")


@db_group.command()
@click.pass_context
def current(ctx):
    """Show the database's schema revision and the newest one.

    \b
    Example:
      vidtrace db current
    """
    location = ctx.obj.location
    if not location.exists():
        click.echo(f"no database at {location.root} (newest revision: {db.head_revision()})")
        return
    engine = db.make_engine(location, read_only=True)
    ctx.call_on_close(engine.dispose)
    click.echo(f"current: {db.current_revision(engine) or 'none'}  newest: {db.head_revision()}")


cli.add_command(network.clusters)
cli.add_command(network.coordination)
cli.add_command(network.report_command)
cli.add_command(network.export_command)
cli.add_command(network.import_command)
cli.add_command(doctor)
cli.add_command(index_commands.index_group)


def main() -> None:
    cli.main(prog_name="vidtrace")
