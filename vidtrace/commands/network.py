"""`clusters`, `coordination` and `report`: from matches to accounts that move together."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vidtrace import chance, coordinate, report
from vidtrace.commands.output import emit_json, output_options

if TYPE_CHECKING:
    from vidtrace import networks

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):
    """`90`, `90s`, `15m`, `2h` or `1d`, in seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        m = _DURATION.match(str(value))
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r} is not a duration such as 90s, 15m, 2h or 1d", param, ctx)
        return float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()]


file_times_option = click.option(
    "--file-times", is_flag=True, help="Also use file modification times where no posting time is known (unreliable)."
)


@click.command()
@file_times_option
@output_options
@click.pass_context
def clusters(ctx, file_times, fmt):
    """Content clusters (videos that are copies of one content) with their uploads.

    A cluster keeps its id (its oldest video's id) as it grows. A compilation belongs to each
    cluster it contains part of, without merging them.

    \b
    Example:
      vidtrace clusters --json
    """
    from vidtrace import networks
    from vidtrace.store import repo

    store = ctx.obj.open(create=False, read_only=True)
    with store.session() as session:
        snap = networks.snapshot(session, include_file_times=file_times)
        document = report.clusters_json(snap, repo.cluster_merges(session))
    if fmt == "json":
        emit_json(document)
    elif fmt == "csv":
        click.echo(report.to_csv(report.CLUSTER_HEADERS, report.cluster_rows(document)), nl=False)
    else:
        click.echo(report.table(report.CLUSTER_HEADERS, report.cluster_rows(document)), nl=False)


def coordination_options(func):
    """--window, --min-accounts, --min-clusters, --fdr and --file-times (coordination and report)."""
    for option in reversed([
        click.option("--window", type=Duration(), default=None, help="Co-posting window (90s, 15m, 2h, 1d). Default: estimated from the data, else 1h."),
        click.option("--min-accounts", type=click.IntRange(2), default=coordinate.MIN_ACCOUNTS, show_default=True, help="Smallest group reported."),
        click.option("--min-clusters", type=click.IntRange(1), default=coordinate.MIN_SHARED_CLUSTERS, show_default=True, help="Distinct contents two accounts must co-post to be linked."),
        click.option(
            "--fdr", type=click.FloatRange(0, 1, min_open=True), default=chance.FDR, show_default=True,
            help=f"False discovery rate over the account pairs tested against chance (from {chance.MIN_PAIRS_FOR_TEST} pairs).",
        ),
        file_times_option,
    ]):  # fmt: skip
        func = option(func)
    return func


@click.command()
@coordination_options
@click.option(
    "--graphml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the account network as GraphML (for Gephi).",
)
@output_options
@click.pass_context
def coordination(ctx, window, min_accounts, min_clusters, fdr, graphml, file_times, fmt):
    """Groups of accounts that repeatedly post the same contents within a time window,
    more often than ordinary posting gives by chance.

    \b
    Example:
      vidtrace coordination --window 30m --min-accounts 3
    """
    snap = ctx.obj.case(create=False, read_only=True).coordination(window, min_accounts, min_clusters, fdr, file_times)
    document = coordination_document(snap)
    if graphml is not None:
        write_graphml(snap, min_clusters, graphml)
    if fmt == "json":
        emit_json(document)
    elif fmt == "csv":
        click.echo(report.to_csv(report.GROUP_CSV_HEADERS, report.group_csv_rows(document)), nl=False)
    else:
        click.echo(f"window {report.duration_text(snap.window_s)} ({snap.window_source}); {len(snap.groups)} group(s)")
        if snap.link_test is not None:
            click.echo(f"links: {snap.link_test.links_kept} kept; {snap.link_test.rule}")
        if snap.groups:
            click.echo(report.table(report.GROUP_HEADERS, report.group_rows(document)), nl=False)
            chance_of = chance_lines(snap)
            click.echo("\n".join(chance_of.get(line, line) for line in report.evidence_lines(document)))
        for a in snap.amplifiers:
            click.echo(
                report.safe_text(
                    f"amplifier: {a.account} trails {a.source} by {report.duration_text(a.mean_lag_s)} "
                    f"(spread {report.duration_text(a.lag_spread_s)}) over clusters {', '.join(map(str, a.clusters))}"
                )
            )
        if snap.file_time_only:
            click.echo(file_times_note(snap.file_time_only))


def file_times_note(count: int) -> str:
    """What coordination says when uploads it would need carry only file times."""
    return (
        f"note: {count} upload(s) of contents posted more than once carry only file times (no posting time "
        "from a manifest) and are left out; give their posting times in a manifest, or use --file-times "
        "(a file time is when the file was saved, not when it was posted)"
    )


def coordination_document(snap: networks.Snapshot) -> dict:
    """`coordination --json`: the groups with the co-posts their accounts share and those chance
    would give them, and how links were tested."""
    document = report.coordination_json(snap)
    document["file_time_only_uploads"] = snap.file_time_only
    for g_json, g in zip(document["groups"], snap.groups, strict=True):
        g_json["observed_coposts"] = g.observed_coposts
        g_json["expected_coposts"] = g.expected_coposts
        g_json["chance_p"] = g.chance_p
    if snap.link_test is not None:
        t = snap.link_test
        document["link_test"] = {
            "pairs_tested": t.pairs_tested, "links_kept": t.links_kept, "applied": t.applied, "fdr": t.fdr,
            "accounts_joined": t.accounts_joined, "joins_tested": t.joins_tested, "rule": t.rule,
        }  # fmt: skip
    return document


def chance_lines(snap: networks.Snapshot) -> dict[str, str]:
    """Each group's heading in the evidence ("group 1:") with its co-posts observed against those
    chance gives."""
    return {
        f"group {rank}:": f"group {rank}: {g.observed_coposts} co-posts between its accounts, "
        f"{g.expected_coposts:.2f} expected by chance (p {g.chance_p:.2g})"
        for rank, g in enumerate(snap.groups, start=1)
    }


def write_graphml(snap: networks.Snapshot, min_clusters: int, path: Path) -> None:
    """Accounts as nodes, co-posting links as edges weighted by distinct clusters."""
    import networkx as nx

    by_cluster = coordinate.cluster_events(snap.events, snap.clusters)
    links = coordinate.account_links(by_cluster, snap.window_s)
    group_of = {a: rank for rank, g in enumerate(snap.groups, start=1) for a in g.accounts}
    graph = nx.Graph()
    for e in snap.events:
        graph.add_node(e.account, group=group_of.get(e.account, 0))
    for (a, b), found in links.items():
        graph.add_edge(
            a, b, weight=len(found), clusters=",".join(map(str, sorted(found))),
            strong=len(found) >= min_clusters, min_gap_s=min(found.values()),
        )  # fmt: skip
    nx.write_graphml(graph, path)


@click.command(name="report")
@click.option(
    "--html",
    "html_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the report.",
)
@coordination_options
@click.option(
    "--base",
    type=click.Path(file_okay=False, path_type=Path),
    help="Case folder that file paths are shown relative to (default: the case file's folder, else the working folder).",
)
@click.pass_context
def report_command(ctx, html_path, window, min_accounts, min_clusters, fdr, file_times, base):
    """Write one self-contained HTML report: groups, amplifiers, timelines, account network, and a
    contact sheet of each content cluster (a still of every member at the matched instant), with
    the uploads' URLs and titles and paths relative to the case folder.

    \b
    Example:
      vidtrace report --html case/report.html --window 30m
    """
    from vidtrace.html_export import ReportOptions, write_report

    display = ctx.obj.display()
    store = ctx.obj.open(create=False, read_only=True)
    case_file = ctx.obj.config.path
    base = base or (case_file.parent if case_file is not None else None)  # the case folder, else the working folder
    counts = write_report(
        store,
        html_path,
        options=ReportOptions(window, min_accounts, min_clusters, fdr, file_times, base),
        progress=display,
    )
    display.close("report")
    click.echo(
        f"wrote {report.safe_text(html_path)}: {counts['groups']} group(s), {counts['clusters']} cluster(s), "
        f"{counts['sheets']} contact sheet(s), {counts['related']} same-soundtrack link(s)"
    )


@click.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-metadata", is_flag=True, help="Leave out accounts, times, URLs, titles and file names.")
@click.pass_context
def export_command(ctx, file, no_metadata):
    """Write the fingerprints of every video fingerprinted here, without the videos.

    \b
    Example:
      vidtrace export case-fingerprints.jsonl.gz
    """
    from vidtrace.exchange import export

    count = export(ctx.obj.open(create=False, read_only=True), file, with_metadata=not no_metadata)
    click.echo(f"exported {count} video fingerprint(s) to {report.safe_text(file)}")


@click.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True, help="Name of the partner the file comes from (letters, digits, . _ -).")
@click.pass_context
def import_command(ctx, file, source):
    """Load a partner's fingerprint file as a named source and match it against the store.

    Every record is checked (types, ranges, durations against frame times); a bad one is
    reported as FILE:LINE and skipped, the others imported, and the command exits 1.

    \b
    Example:
      vidtrace import partner.jsonl.gz --source lab-b
    """
    from vidtrace.exchange import import_file

    display = ctx.obj.display()
    summary = import_file(ctx.obj.open(create=True), file, source, progress=display)
    display.close("import")
    for problem in summary.problems:
        click.echo(report.safe_text(problem), err=True)
    skipped = f"; {len(summary.problems)} bad record(s) skipped" if summary.problems else ""
    click.echo(
        f"imported {summary.videos} video(s) from {report.safe_text(source)} ({summary.already_known} already known"
        + (f", {summary.updated} imported before given this file's newer fingerprint" if summary.updated else "")
        + "); "
        f"{len(summary.new_matches)} new match(es){skipped}"
    )
    if summary.problems:
        ctx.exit(1)
