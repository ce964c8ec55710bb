"""`vidtrace`: the command-line entry point."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import DBAPIError

from vidtrace import __version__, report
from vidtrace.errors import VidtraceError
from vidtrace.commands import network
from vidtrace.commands.doctor import doctor
from vidtrace.commands import index as index_commands
from vidtrace.commands.output import ProgressLine, configure_logging, emit_json, output_options
from vidtrace.settings import Settings
from vidtrace.store import db, repo

if TYPE_CHECKING:
    from vidtrace.scan import ScanSummary

log = logging.getLogger("vidtrace.cli")


@dataclass
class Options:
    store: str | None
    db_url: str | None
    verbose: int
    quiet: bool

    @property
    def location(self) -> db.StoreLocation:
        return db.StoreLocation.resolve(self.store, self.db_url)

    def open(self, create: bool) -> db.Store:
        """The store, closed (connections released) when the command ends."""
        store = db.Store.open(self.location, create=create)
        click.get_current_context().call_on_close(store.close)
        return store


class VidtraceGroup(click.Group):
    """Maps library errors to `Error: ...` on stderr and the documented exit codes."""

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
@click.version_option(__version__, prog_name="vidtrace")
@click.pass_context
def cli(ctx: click.Context, store, db_url, verbose, quiet):
    """Find re-uploads of the same video across accounts, with the seconds that match.

    \b
    Example:
      vidtrace ingest downloads/           # accounts from downloads/<account>/...
      vidtrace matches
      vidtrace lookup suspect.mp4
    """
    configure_logging(verbose, quiet)
    ctx.obj = Options(store, db_url, verbose, quiet)


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
        emit_json(report.scan_json(summary, matches, uploads))
        return
    if fmt == "csv":
        click.echo(report.to_csv(report.MATCH_CSV_HEADERS, report.match_csv_rows(matches, uploads)), nl=False)
        return
    c = summary.counts()
    click.echo(
        f"{summary.kind} (scan {summary.scan_id}): {c['files']} files, {c['new_videos']} new videos, "
        f"{c['new_uploads']} new uploads, {c['moved_uploads']} moved, {c['unchanged_uploads']} unchanged, "
        f"{c['gone_uploads']} gone, {c['new_matches']} new matches, {c['failures']} failed"
    )
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
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), help="CSV or JSON Lines: path, account[, uploaded_at, platform, url, title].")
@workers_option
@scheduler_option
@ffmpeg_option
@output_options
@click.pass_context
def ingest(ctx, roots, manifest, workers, scheduler, ffmpeg, fmt):
    """Add the videos under ROOT folders (accounts from ROOT/<account>/...) or in a manifest.

    \b
    Example:
      vidtrace ingest downloads/
      vidtrace ingest --manifest collected/manifest.csv
    """
    opts: Options = ctx.obj
    store = opts.open(create=True)
    from vidtrace.scan import ingest as ingest_roots  # the pipeline, for the commands that run it

    summary = ingest_roots(store, list(roots), manifest, _settings(ffmpeg), workers, ProgressLine(not opts.quiet), scheduler)
    _print_scan(store, summary, fmt)
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
    store = opts.open(create=True)
    from vidtrace.scan import rescan as rescan_store

    summary = rescan_store(store, _settings(ffmpeg), workers, ProgressLine(not opts.quiet), scheduler)
    _print_scan(store, summary, fmt)
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
    store = ctx.obj.open(create=False)
    from vidtrace.lookup import lookup as lookup_file

    result = lookup_file(store, file, _settings(ffmpeg), top)
    if fmt == "json":
        emit_json(report.lookup_json(result))
    elif fmt == "csv":
        click.echo(report.to_csv(report.LOOKUP_CSV_HEADERS, report.lookup_csv_rows(result)), nl=False)
    elif not result.matches:
        click.echo(f"No match for {report.safe_text(file)} ({result.duration_s:.1f} s).")
    else:
        click.echo(f"{report.safe_text(file)} ({result.duration_s:.1f} s) matches {len(result.matches)} stored video(s):")
        click.echo(report.lookup_tables(result, os.getcwd()), nl=False)


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
    store = ctx.obj.open(create=False)
    with store.session() as session:
        found = repo.list_matches(session, min_score)
        uploads = repo.uploads_of_videos(session, {v for m in found for v in (m.video_a_id, m.video_b_id)})
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
    engine = db.make_engine(location)
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
