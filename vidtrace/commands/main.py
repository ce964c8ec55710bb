"""`vidtrace`: the command-line entry point.

Each family of commands has its module in `vidtrace.commands`; they import what they need when
they run, so that `vidtrace --help` starts quickly.
"""

from __future__ import annotations

import click

from vidtrace import __version__
from vidtrace.commands import database, doctor, index, ingest, network, query
from vidtrace.commands.options import Options, VidtraceGroup, hoist_global_options  # noqa: F401  (hoist_global_options: importable from here)
from vidtrace.commands.output import configure_logging
from vidtrace.config import CaseConfig, load_config
from vidtrace.errors import UsageError, VidtraceError


@click.group(cls=VidtraceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store", metavar="DIR", help="Store folder (database and index). Env: VIDTRACE_STORE. Default: ./vidtrace-store"
)
@click.option(
    "--db", "db_url", metavar="URL", help="Database URL instead of the store's SQLite file. Env: VIDTRACE_DB."
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv: debug, tracebacks).")
@click.option("--quiet", is_flag=True, help="Only errors on stderr; no progress.")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Case file (TOML) with store, db and option defaults. Default: ./vidtrace.toml if present.",
)
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
            raise UsageError(
                f"config file {config.path}: [{name}] has no option {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
    return config.defaults


for command in (
    ingest.ingest, ingest.rescan, query.lookup, query.matches, database.db_group, network.clusters, network.coordination,
    network.report_command, network.export_command, network.import_command, doctor.doctor, index.index_group,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="vidtrace")
