"""Text for people and spreadsheets: escape-free strings, times and durations, tables, CSV.

Account names, titles and file names come from hostile actors: every string that reaches a
table or a message goes through `safe_text`, which makes control characters and terminal
escape sequences visible instead of letting them act on the terminal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import numbers
import re
from collections.abc import Iterable, Sequence

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe_text(value: object) -> str:
    """A one-line, escape-free rendering of any value for terminals and logs."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates from odd file names
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def span(start: float, end: float) -> str:
    return f"{start:.1f}-{end:.1f}"


def duration_text(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain aligned text table; every cell made safe for the terminal."""
    cells = [[safe_text(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


#: A spreadsheet reads a cell starting with one of these as a formula (or a formula's start):
#: `=HYPERLINK(...)`, `+cmd|' /C calc'!A0`, `@SUM(...)`, and tab or carriage return before them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (the OWASP rule: a text cell starting with
    `=`, `+`, `-`, `@`, tab or carriage return gets a leading single quote). Numbers are kept as
    they are, so -1.5 stays a number; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real):  # int, float, bool and their numpy kinds
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text: a header row, then the rows, every cell through `csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in headers])
    writer.writerows([csv_cell(c) for c in row] for row in rows)
    return out.getvalue()
