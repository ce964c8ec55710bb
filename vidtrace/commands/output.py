"""Command-line plumbing: output formats and logging set-up (the progress display: `vidtrace.progress`)."""

from __future__ import annotations

import functools
import json
import logging
import sys

import click

from vidtrace.report import safe_text


def output_options(func):
    """Add --json / --csv to a listing command; passes `fmt` ('table', 'json' or 'csv')."""

    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
    @functools.wraps(func)
    def wrapper(*args, as_json: bool, as_csv: bool, **kwargs):
        if as_json and as_csv:
            raise click.UsageError("--json and --csv exclude each other")
        return func(*args, fmt="json" if as_json else "csv" if as_csv else "table", **kwargs)

    return wrapper


def emit_json(document: dict) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record))


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("vidtrace: %(levelname)s: %(message)s"))
    root = logging.getLogger("vidtrace")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
