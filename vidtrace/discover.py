"""Discovery: which files are uploads, and by which account.

Accounts come from a manifest (CSV with a header, or JSON Lines) or else from the first folder
level under a root (`ROOT/<account>/...`). Bad manifest rows are reported by line number and
skipped; the rest of the manifest is used.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vidtrace.errors import UsageError

log = logging.getLogger(__name__)

#: Files with these extensions are taken as videos when walking a folder. Anything a manifest
#: names is tried whatever its extension.
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .flv .wmv .mpg .mpeg .ts .mts .m2ts .3gp .3g2 .ogv .vob .f4v .asf".split()
)
REQUIRED_COLUMNS = ("path", "account")
OPTIONAL_COLUMNS = ("uploaded_at", "platform", "url", "title")
#: Field separators a CSV manifest may use (the header decides which).
MANIFEST_DELIMITERS = (",", ";", "\t")
#: Longest accepted manifest field (characters): longer is a broken or hostile row.
MAX_FIELD_CHARS = 4096


@dataclass(frozen=True)
class Candidate:
    """A file that may be an upload, with what is known of its posting."""

    path: Path  # absolute
    account: str | None
    platform: str = ""
    uploaded_at: dt.datetime | None = None
    url: str | None = None
    title: str | None = None

    @functools.cached_property
    def text(self) -> str:
        """The path's text form (`path_text`): what the database keeps and reports show. Made
        once per candidate; everything a scan records or reports of the file uses it."""
        return path_text(self.path)


@dataclass(frozen=True)
class Problem:
    """An input that could not be used: the file (or manifest line) and the reason."""

    where: str
    reason: str


#: Marks the stored text of a file name that is not valid UTF-8 (see `path_text`). Stored paths
#: are absolute, so a real path never starts with it; one that would is escaped as well.
BYTES_PATH_PREFIX = "bytes:"


def path_text(path: str | os.PathLike) -> str:
    """The text form of a file path kept in the database and shown in reports.

    POSIX file names are bytes. A name that is valid UTF-8 is kept exactly. Any other name (which
    Python carries with lone surrogates, and which SQL text columns, JSON and terminals refuse) is
    written as `bytes:` + the path with each byte outside UTF-8 as `\\xNN` and each backslash
    doubled. `text_path` reverses it, so the file can be opened again.
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
        if not text.startswith(BYTES_PATH_PREFIX):
            return text
    except UnicodeEncodeError:
        pass
    raw = os.fsencode(text).decode("utf-8", "surrogateescape")
    escaped = "".join(
        "\\\\" if ch == "\\" else f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in raw
    )
    return BYTES_PATH_PREFIX + escaped


def text_path(text: str) -> Path:
    """The file path whose stored text form is `text` (the inverse of `path_text`)."""
    if not text.startswith(BYTES_PATH_PREFIX):
        return Path(text)
    out = bytearray()
    body = text[len(BYTES_PATH_PREFIX) :]
    i = 0
    while i < len(body):
        if body.startswith("\\\\", i):
            out += b"\\"
            i += 2
        elif body.startswith("\\x", i):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            out += body[i].encode("utf-8")
            i += 1
    return Path(os.fsdecode(bytes(out)))


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def walk_root(root: Path, problems: list[Problem] | None = None) -> Iterator[Candidate]:
    """Every video file under `root`, in a stable order; the first folder level names the account.

    Symbolic links to folders are not followed (no loops); hidden files and folders are skipped.
    Files directly in `root` have no account. A link that leads outside `root` (to a file or a
    folder) is skipped and reported: appended to `problems` when given, else logged as an error.
    """
    root = Path(root).absolute()
    real_root = root.resolve()

    def outside(link: Path, kind: str) -> None:
        problem = Problem(
            path_text(link),
            f"a link to a {kind} outside {path_text(root)} ({path_text(os.path.realpath(link))}); skipped",
        )
        if problems is None:
            log.error("%s: %s", problem.where, problem.reason)
        else:
            problems.append(problem)

    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for d in sorted(dirs):
            if not d.startswith(".") and (here / d).is_symlink() and not _inside(here / d, real_root):
                outside(here / d, "folder")
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = here.relative_to(root)
        account = path_text(rel.parts[0]) if rel.parts else None  # folder names may not be UTF-8
        for name in sorted(files):
            if name.startswith(".") or not is_video_name(name):
                continue
            path = here / name
            if path.is_symlink() and not _inside(path, real_root):
                outside(path, "file")
                continue
            yield Candidate(path=path, account=account)


def _inside(path: Path, real_base: Path) -> bool:
    """Whether `path`, every link on the way followed, is inside the folder `real_base` (resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(real_base)


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 to an aware UTC datetime; a time without a zone is taken as UTC.

    Raises ValueError for text that is no ISO 8601 time and OverflowError for a time that
    leaves the representable range once in UTC (such as 0001-01-01T00:00:00+01:00)."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, row or None, error or None) for each data row of a CSV or JSON Lines file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # newlines untranslated: a quoted CSV field may hold "\r"
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read manifest {path}: {e}") from e
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        # Split on "\n" only: str.splitlines() also breaks at \x1c-\x1e, \x85 and \u2028,
        # which may stand unescaped inside a JSON string.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield number, None, f"not valid JSON ({e.msg})"
                continue
            if not isinstance(row, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, {str(k).strip().lower(): (None if v is None else str(v)) for k, v in row.items()}, None
        return
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter=_delimiter(text)
    )  # CSV rules decide where rows end
    # Column names in any case, with stray spaces: `Path,Account` is `path,account`.
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if header:
        reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UsageError(
            f"manifest {path} lacks column(s) {', '.join(missing)} (header: {', '.join(header) or 'empty'})"
        )
    for row in reader:
        if None in row:
            yield reader.line_num, None, "more fields than the header"
            continue
        yield reader.line_num, row, None


def _delimiter(text: str) -> str:
    """The field separator of a CSV manifest: whichever of `,`, `;` and tab splits the header row
    into the most fields, `,` on a tie (spreadsheets in many locales save with `;`, exports often
    with tabs)."""

    def fields(d: str) -> int:
        return len(next(csv.reader(io.StringIO(text, newline=""), delimiter=d), []))

    return max(MANIFEST_DELIMITERS, key=lambda d: (fields(d), d == ","))


def read_manifest(path: Path) -> tuple[list[Candidate], list[Problem]]:
    """The manifest's uploads and the problems of the rows that were skipped."""
    path = Path(path).absolute()
    base = path.parent.resolve()
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    seen: set[tuple[str, str | None]] = set()
    for number, row, error in _rows(path):
        where = f"{path}:{number}"
        candidate = None
        if error is None and row is not None:
            error, candidate = _candidate(row, base)
        if error is not None:
            problems.append(Problem(where, error))
            continue
        assert candidate is not None, "a row read without error gives a candidate"
        key = (str(candidate.path), candidate.account)
        if key in seen:
            problems.append(Problem(where, "duplicate row (same path and account as an earlier row)"))
            continue
        seen.add(key)
        candidates.append(candidate)
    return candidates, problems


def _text_problem(key: str, value: str) -> str | None:
    """Why a manifest field cannot be stored as text, or None."""
    if len(value) > MAX_FIELD_CHARS:
        return f"{key} longer than {MAX_FIELD_CHARS} characters"
    if "\x00" in value:
        return f"{key} contains a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{key} is not valid Unicode text (a lone surrogate)"
    return None


def _candidate(row: dict, base: Path) -> tuple[str | None, Candidate | None]:
    values = {k: (row.get(k) or "").strip() for k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for key in REQUIRED_COLUMNS:
        if not values[key]:
            return f"missing {key}", None
    for key, value in values.items():
        if (problem := _text_problem(key, value)) is not None:
            return problem, None
    full = Path(os.path.normpath(base / values["path"]))
    if not full.is_relative_to(base):
        return f"path {values['path']!r} points outside the manifest's folder", None
    if not _inside(full, base):
        return f"path {values['path']!r} is a link to {os.path.realpath(full)!r}, outside the manifest's folder", None
    uploaded_at = None
    if values["uploaded_at"]:
        try:
            uploaded_at = parse_time(values["uploaded_at"])
        except OverflowError:
            return f"uploaded_at {values['uploaded_at']!r} is out of range (before year 1 or after 9999 in UTC)", None
        except ValueError:
            return f"uploaded_at {values['uploaded_at']!r} is not an ISO 8601 time", None
    return None, Candidate(
        path=full,
        account=values["account"],
        platform=values["platform"],
        uploaded_at=uploaded_at,
        url=values["url"] or None,
        title=values["title"] or None,
    )
