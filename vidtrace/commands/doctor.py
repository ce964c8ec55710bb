"""`vidtrace doctor`: check the store, and mend it with --repair."""

from __future__ import annotations

from dataclasses import asdict

import click

from vidtrace.commands.output import emit_json
from vidtrace.report import safe_text


@click.command()
@click.option(
    "--repair",
    is_flag=True,
    help="Mend what can be mended: rebuild the index, record frame sums again, retry failed videos, mark missing "
    "files gone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def doctor(ctx, repair, as_json):
    """Check the index and the videos' frame sums against the database, missing files, failed
    videos and unfinished scans.

    Exits 0 when all is well, 1 when problems remain.

    \b
    Example:
      vidtrace doctor
      vidtrace doctor --repair
    """
    from vidtrace import doctor as doctor_lib
    from vidtrace.settings import Settings

    store = ctx.obj.open(create=False)
    report = doctor_lib.repair(store, Settings.from_env()) if repair else doctor_lib.check(store)
    if as_json:
        emit_json(
            {"healthy": report.healthy, "checks": [asdict(f) for f in report.findings], "repairs": report.repairs}
        )
    else:
        for line in report.repairs:
            click.echo(f"repaired: {safe_text(line)}" if not line.startswith("  ") else f"  {safe_text(line.strip())}")
        for f in report.findings:
            click.echo(f"{'ok  ' if f.ok else 'FAIL'}  {f.check}: {safe_text(f.summary)}")
            for item in f.items[:20]:
                click.echo("      " + "  ".join(f"{k}={safe_text(v)}" for k, v in item.items()))
            if len(f.items) > 20:
                click.echo(f"      ... and {len(f.items) - 20} more")
        if not repair and not report.healthy:
            click.echo("Run `vidtrace doctor --repair` to mend what can be mended.")
    if not report.healthy:
        ctx.exit(1)
