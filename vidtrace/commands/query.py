"""`lookup` and `matches`: what the store knows of a clip, and every stored match."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from vidtrace import report
from vidtrace.commands.options import ffmpeg_option
from vidtrace.commands.output import emit_json, output_options
from vidtrace.settings import HASH_VERSION

log = logging.getLogger(__name__)


@click.command()
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
    if note := report.older_fingerprints_note(case.older_fingerprints(), HASH_VERSION):
        log.warning("%s", note)
    where = case.placement([m.video_id for m in result.matches], snap) if snap is not None else {}
    if fmt == "json":
        emit_json(report.lookup_json(result, where))
    elif fmt == "csv":
        click.echo(report.to_csv(report.LOOKUP_CSV_HEADERS, report.lookup_csv_rows(result)), nl=False)
    elif not result.matches:
        click.echo(f"No match for {report.safe_text(file)} ({result.duration_s:.1f} s).")
    else:
        click.echo(
            f"{report.safe_text(file)} ({result.duration_s:.1f} s) matches {len(result.matches)} stored video(s):"
        )
        click.echo(report.lookup_tables(result, os.getcwd()), nl=False)
        click.echo(report.placement_text(result, where, snap), nl=False)


@click.command()
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
