"""Command-line plumbing: output formats, logging set-up and the progress display."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time

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


class ProgressLine:
    """One self-overwriting line on stderr with counts and rate; silent when quiet or not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.stage = None
        self.started = time.monotonic()
        self.last_draw = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if stage != self.stage:
            self.stage, self.started = stage, now
        if done < total and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        rate = done / (now - self.started) if now > self.started else 0.0
        sys.stderr.write(f"\r\x1b[K{stage}: {done}/{total} ({rate:.1f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
