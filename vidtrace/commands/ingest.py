"""`ingest` and `rescan`: add uploads to the store, fingerprint and match them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vidtrace import report
from vidtrace.commands.options import Options, ffmpeg_option, scheduler_option, workers_option
from vidtrace.commands.output import emit_json, output_options

if TYPE_CHECKING:
    from vidtrace.scan import ScanSummary
    from vidtrace.store import db


def _print_scan(store: db.Store, summary: ScanSummary, fmt: str) -> None:
    from vidtrace.store import repo

    with store.session() as session:
        matches = [m for m in repo.list_matches(session) if m.id in set(summary.new_matches)]
        uploads = repo.uploads_of_videos(session, {v for m in matches for v in (m.video_a_id, m.video_b_id)})
    if fmt == "json":
        emit_json(
            {
                **report.scan_json(summary, matches, uploads),
                "not_in_manifest": summary.not_in_manifest,
                "resumed": summary.resumed,
            }
        )
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
        click.echo(
            f"{summary.sidecar_uploads} upload(s) took account, time, URL and title from yt-dlp .info.json sidecars"
        )
    if summary.refingerprinted_videos:
        click.echo(
            f"{summary.refingerprinted_videos} video(s) hashed by an older version fingerprinted again and re-matched"
        )
    if summary.rematched_videos:
        click.echo(
            f"{summary.rematched_videos} video(s) matched by older matching rules matched again: "
            f"{len(summary.dropped_matches)} of their matches no longer found and removed"
        )
    if summary.older_rules_videos:
        click.echo(
            f"note: {summary.older_rules_videos} video(s) were matched by older matching rules; "
            "a rescan matches them again"
        )
    if summary.new_clusters or summary.merged_clusters:
        merged = ", ".join(f"{f} into {i}" for f, i in summary.merged_clusters) or "none"
        click.echo(f"{len(summary.new_clusters)} new content cluster(s); merged clusters: {merged}")
    for label, groups in (
        ("new coordinated group", summary.new_groups),
        ("grown coordinated group", summary.grown_groups),
    ):
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


@click.command()
@click.argument("paths", metavar="[FOLDER|FILE]...", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    help="CSV or JSON Lines: path, account[, uploaded_at, platform, url, title].",
)
@click.option(
    "--account",
    metavar="NAME",
    help="Account of the FILEs given alone (default: their yt-dlp sidecar's, else their folder's name).",
)
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
    summary = case.ingest(
        *paths, manifest=manifest, workers=workers, account=account, progress=display, scheduler=scheduler
    )
    display.close("ingest")
    _print_scan(case.store, summary, fmt)
    _finish(ctx, summary)


@click.command()
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
