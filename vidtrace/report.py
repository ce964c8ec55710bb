"""Rendering results: JSON documents, readable tables and CSV. Pure: values in, text out.

Account names, titles and file names come from hostile actors: every string that reaches a
table or a message goes through `safe_text`, which makes control characters and terminal
escape sequences visible instead of letting them act on the terminal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from typing import Iterable, Sequence

from vidtrace.lookup import LookupResult
from vidtrace.scan import ScanSummary
from vidtrace.store.repo import MatchRecord, UploadRecord

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe_text(value: object) -> str:
    """A one-line, escape-free rendering of any value for terminals and logs."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates from odd file names
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def upload_json(u: UploadRecord) -> dict:
    return {
        "path": u.path,
        "account": u.account,
        "platform": u.platform or None,
        "uploaded_at": iso(u.uploaded_at),
        "uploaded_at_source": u.uploaded_at_source,
        "url": u.url,
        "title": u.title,
        "gone": u.gone,
    }


def match_json(m: MatchRecord, uploads: dict[int, list[UploadRecord]]) -> dict:
    return {
        "match_id": m.id,
        "a": {"video_id": m.video_a_id, "uploads": [upload_json(u) for u in uploads.get(m.video_a_id, [])]},
        "b": {"video_id": m.video_b_id, "uploads": [upload_json(u) for u in uploads.get(m.video_b_id, [])]},
        "score": m.score,
        "matched_s": m.matched_s,
        "segments": [
            {"a_start": s.a_start_s, "a_end": s.a_end_s, "b_start": s.b_start_s, "b_end": s.b_end_s, "speed": s.speed}
            for s in m.segments
        ],
    }


def matches_json(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> dict:
    return {"matches": [match_json(m, uploads) for m in matches]}


def lookup_json(result: LookupResult) -> dict:
    return {
        "query": {"path": result.path, "duration_s": round(result.duration_s, 3)},
        "matches": [
            {
                "video_id": m.video_id,
                "uploads": [upload_json(u) for u in result.uploads.get(m.video_id, [])],
                "score": m.alignment.score,
                "matched_s": m.alignment.matched_s,
                "segments": [
                    {"query_start": s.q_start, "query_end": s.q_end, "ref_start": s.r_start, "ref_end": s.r_end, "speed": s.speed}
                    for s in m.alignment.segments
                ],
            }
            for m in result.matches
        ],
    }


def scan_json(summary: ScanSummary, matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> dict:
    return {
        "scan_id": summary.scan_id,
        "kind": summary.kind,
        "counts": summary.counts(),
        "failures": [{"path": f.path, "reason": f.reason} for f in summary.failures],
        "warnings": [{"path": f.path, "reason": f.reason} for f in summary.warnings],
        "new_matches": [match_json(m, uploads) for m in matches],
    }


# --- tables and CSV ---------------------------------------------------------------------------


def upload_label(uploads: Sequence[UploadRecord], video_id: int) -> str:
    """`#id account/file` of a video's first upload, with how many more there are."""
    if not uploads:
        return f"#{video_id}"
    first = uploads[0]
    who = f"{first.account}/" if first.account else ""
    more = f" (+{len(uploads) - 1})" if len(uploads) > 1 else ""
    return f"#{video_id} {who}{os.path.basename(first.path)}{more}"


def span(start: float, end: float) -> str:
    return f"{start:.1f}-{end:.1f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain aligned text table; every cell made safe for the terminal."""
    cells = [[safe_text(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    return out.getvalue()


MATCH_HEADERS = ("score", "matched_s", "video_a", "video_b", "segments_a=b")
MATCH_CSV_HEADERS = ("match_id", "video_a_id", "video_b_id", "score", "matched_s", "a_start", "a_end", "b_start", "b_end", "speed", "a_accounts", "b_accounts")


def match_rows(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> list[tuple]:
    return [
        (
            f"{m.score:.2f}",
            f"{m.matched_s:.1f}",
            upload_label(uploads.get(m.video_a_id, []), m.video_a_id),
            upload_label(uploads.get(m.video_b_id, []), m.video_b_id),
            ", ".join(f"{span(s.a_start_s, s.a_end_s)}={span(s.b_start_s, s.b_end_s)}" for s in m.segments),
        )
        for m in matches
    ]


def _accounts(uploads: Sequence[UploadRecord]) -> str:
    return ";".join(sorted({u.account for u in uploads if u.account}))


def match_csv_rows(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> list[tuple]:
    return [
        (
            m.id, m.video_a_id, m.video_b_id, m.score, m.matched_s, s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s,
            s.speed, _accounts(uploads.get(m.video_a_id, [])), _accounts(uploads.get(m.video_b_id, [])),
        )  # fmt: skip
        for m in matches
        for s in m.segments
    ]


LOOKUP_HEADERS = ("rank", "score", "matched_s", "video", "account", "uploaded_at", "path", "segments_query=ref")
LOOKUP_CSV_HEADERS = ("rank", "video_id", "score", "matched_s", "account", "uploaded_at", "uploaded_at_source", "path", "query_start", "query_end", "ref_start", "ref_end", "speed")


def shown_path(path: str, base: str | None) -> str:
    """`path` relative to `base` when it lies inside it (shorter tables), else as stored."""
    if base and path.startswith(base.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, base)
    return path


def lookup_rows(result: LookupResult, base: str | None = None) -> list[tuple]:
    rows = []
    for rank, m in enumerate(result.matches, start=1):
        segments = ", ".join(f"{span(s.q_start, s.q_end)}={span(s.r_start, s.r_end)}" for s in m.alignment.segments)
        for i, u in enumerate(result.uploads.get(m.video_id, []) or [None]):
            first = i == 0
            rows.append(
                (
                    rank if first else "",
                    f"{m.alignment.score:.2f}" if first else "",
                    f"{m.alignment.matched_s:.1f}" if first else "",
                    f"#{m.video_id}" if first else "",
                    u.account if u else "",
                    (iso(u.uploaded_at) or "") + (" (file time)" if u and u.uploaded_at_source == "file_time" else "") if u else "",
                    (shown_path(u.path, base) + (" [gone]" if u.gone else "")) if u else "",
                    segments if first else "",
                )
            )
    return rows


def lookup_csv_rows(result: LookupResult) -> list[tuple]:
    return [
        (
            rank, m.video_id, m.alignment.score, m.alignment.matched_s, u.account, iso(u.uploaded_at),
            u.uploaded_at_source, u.path, s.q_start, s.q_end, s.r_start, s.r_end, s.speed,
        )  # fmt: skip
        for rank, m in enumerate(result.matches, start=1)
        for u in result.uploads.get(m.video_id, [])
        for s in m.alignment.segments
    ]
