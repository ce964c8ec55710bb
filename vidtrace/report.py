"""Rendering results: JSON documents, readable tables and CSV. Pure: values in, text out.

Matches, lookups and scans here; clusters and coordinated groups in `vidtrace.network_report`,
text helpers (`safe_text` for hostile strings, tables, CSV) in `vidtrace.text`. This module
offers their names too. It reads plain values: no pipeline, database or index to import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

# The names of the modules below, offered here too.
# ruff: noqa: F401
from vidtrace.network_report import (
    CLUSTER_HEADERS,
    GROUP_CSV_HEADERS,
    GROUP_HEADERS,
    cluster_rows,
    clusters_json,
    coordination_json,
    event_json,
    evidence_lines,
    group_csv_rows,
    group_rows,
)
from vidtrace.results.matches import LookupResult, ScanSummary
from vidtrace.results.records import MatchRecord, UploadRecord
from vidtrace.text import csv_cell, duration_text, iso, safe_text, span, table, to_csv


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
        "kind": m.kind,
        "signals": list(m.signals),
        "segments": [
            {
                "a_start": s.a_start_s,
                "a_end": s.a_end_s,
                "b_start": s.b_start_s,
                "b_end": s.b_end_s,
                "speed": s.speed,
                "edits": list(s.edits),
            }
            for s in m.segments
        ],
    }


def matches_json(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> dict:
    return {"matches": [match_json(m, uploads) for m in matches]}


def lookup_json(result: LookupResult, placement: dict | None = None) -> dict:
    """`lookup --json`; with `placement` (video id -> `vidtrace.api.Placement`), each match also
    names its content clusters and the ranks of the coordinated groups that posted them."""
    placement = placement or {}
    document: dict[str, Any] = {
        "query": {"path": result.path, "duration_s": round(result.duration_s, 3)},
        "matches": [
            {
                "video_id": m.video_id,
                "source": result.sources.get(m.video_id),
                "uploads": [upload_json(u) for u in result.uploads.get(m.video_id, [])],
                "score": m.alignment.score,
                "matched_s": m.alignment.matched_s,
                "kind": m.kind,
                "signals": list(m.signals),
                "segments": [
                    {
                        "query_start": s.q_start,
                        "query_end": s.q_end,
                        "ref_start": s.r_start,
                        "ref_end": s.r_end,
                        "speed": s.speed,
                        "edits": list(s.edits),
                    }
                    for s in m.alignment.segments
                ],
            }
            for m in result.matches
        ],
    }
    for m_json in document["matches"]:
        where = placement.get(m_json["video_id"])
        m_json["clusters"] = list(where.clusters) if where else []
        m_json["groups"] = list(where.groups) if where else []
    return document


def placement_text(result: LookupResult, placement: dict, snapshot) -> str:
    """One line per hit: its content cluster(s) and the coordinated group(s) that posted them."""
    lines = []
    for rank, m in enumerate(result.matches, start=1):
        where = placement.get(m.video_id)
        if where is None or not where.clusters:
            lines.append(f"{rank}. #{m.video_id}: in no content cluster (not in the store's analysis)")
            continue
        clusters = ", ".join(map(str, where.clusters))
        groups = (
            "; ".join(f"group {g} ({', '.join(snapshot.groups[g - 1].accounts)})" for g in where.groups)
            or "no coordinated group"
        )
        lines.append(safe_text(f"{rank}. #{m.video_id}: cluster {clusters}; {groups}"))
    return "\nWhere the hits belong:\n" + "\n".join(lines) + "\n"


def scan_json(summary: ScanSummary, matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> dict:
    return {
        "scan_id": summary.scan_id,
        "kind": summary.kind,
        "counts": summary.counts(),
        "failures": [{"path": f.path, "reason": f.reason} for f in summary.failures],
        "warnings": [{"path": f.path, "reason": f.reason} for f in summary.warnings],
        "new_matches": [match_json(m, uploads) for m in matches],
        "new_clusters": summary.new_clusters,
        "merged_clusters": [{"from": f, "into": i} for f, i in summary.merged_clusters],
        "new_groups": [list(g) for g in summary.new_groups],
        "grown_groups": [list(g) for g in summary.grown_groups],
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


def segment_text(a0: float, a1: float, b0: float, b1: float, speed: float, edits) -> str:
    """`a0-a1=b0-b1`, with the speed when not 1 and the edits that explain it."""
    text = f"{span(a0, a1)}={span(b0, b1)}"
    if abs(speed - 1.0) > 0.005:
        text += f" x{speed:.2f}"
    if edits:
        text += f" ({'+'.join(edits)})"
    return text


MATCH_HEADERS = ("score", "matched_s", "kind", "signals", "video_a", "video_b", "segments_a=b")
MATCH_CSV_HEADERS = (
    "match_id",
    "video_a_id",
    "video_b_id",
    "score",
    "matched_s",
    "a_start",
    "a_end",
    "b_start",
    "b_end",
    "speed",
    "edits",
    "a_accounts",
    "b_accounts",
    "kind",
    "signals",
)
#: Kinds in the order tables list them: copies, then related content.
KIND_ORDER = ("identical file", "copy", "same soundtrack")


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def by_kind(matches: Sequence[MatchRecord]) -> list[MatchRecord]:
    """Copies first, then matches of other kinds (same soundtrack), each in their given order."""
    return sorted(matches, key=lambda m: _kind_rank(m.kind))


def signals_text(signals: Sequence[str]) -> str:
    return "+".join(signals) or "-"


def match_rows(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> list[tuple]:
    """Table rows, copies first: matches of another kind (same soundtrack) are listed after them."""
    return [
        (
            f"{m.score:.2f}",
            f"{m.matched_s:.1f}",
            m.kind,
            signals_text(m.signals),
            upload_label(uploads.get(m.video_a_id, []), m.video_a_id),
            upload_label(uploads.get(m.video_b_id, []), m.video_b_id),
            ", ".join(
                segment_text(s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s, s.speed, s.edits) for s in m.segments
            ),
        )
        for m in by_kind(matches)
    ]


def match_tables(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> str:
    """The copies' table, then, under a heading of their own, the matches of related content."""
    copies = [m for m in matches if m.kind == "copy"]
    related = [m for m in matches if m.kind != "copy"]
    out = table(MATCH_HEADERS, match_rows(copies, uploads)) if copies else ""
    if related:
        out += ("\n" if out else "") + "Related content (same soundtrack over other pictures; not copies):\n"
        out += table(MATCH_HEADERS, match_rows(related, uploads))
    return out


def _accounts(uploads: Sequence[UploadRecord]) -> str:
    return ";".join(sorted({u.account for u in uploads if u.account}))


def match_csv_rows(matches: Sequence[MatchRecord], uploads: dict[int, list[UploadRecord]]) -> list[tuple]:
    return [
        (
            m.id,
            m.video_a_id,
            m.video_b_id,
            m.score,
            m.matched_s,
            s.a_start_s,
            s.a_end_s,
            s.b_start_s,
            s.b_end_s,
            s.speed,
            "+".join(s.edits),
            _accounts(uploads.get(m.video_a_id, [])),
            _accounts(uploads.get(m.video_b_id, [])),
            m.kind,
            signals_text(m.signals),
        )
        for m in matches
        for s in m.segments
    ]


LOOKUP_HEADERS = (
    "rank",
    "score",
    "matched_s",
    "kind",
    "signals",
    "video",
    "account",
    "uploaded_at",
    "path",
    "segments_query=ref",
)
LOOKUP_CSV_HEADERS = (
    "rank",
    "video_id",
    "score",
    "matched_s",
    "account",
    "uploaded_at",
    "uploaded_at_source",
    "path",
    "query_start",
    "query_end",
    "ref_start",
    "ref_end",
    "speed",
    "kind",
    "signals",
)


def shown_path(path: str, base: str | None) -> str:
    """`path` relative to `base` when it lies inside it (shorter tables), else as stored."""
    if base and path.startswith(base.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, base)
    return path


def lookup_rows(result: LookupResult, base: str | None = None) -> list[tuple]:
    """Table rows in the result's order: the identical file, copies, then same soundtrack."""
    rows = []
    for rank, m in enumerate(result.matches, start=1):
        segments = ", ".join(
            segment_text(s.q_start, s.q_end, s.r_start, s.r_end, s.speed, s.edits) for s in m.alignment.segments
        )
        for i, u in enumerate(result.uploads.get(m.video_id, []) or [None]):
            first = i == 0
            rows.append(
                (
                    rank if first else "",
                    f"{m.alignment.score:.2f}" if first else "",
                    f"{m.alignment.matched_s:.1f}" if first else "",
                    m.kind if first else "",
                    signals_text(m.signals) if first else "",
                    (f"#{m.video_id}" + (f" [{result.sources[m.video_id]}]" if result.sources.get(m.video_id) else ""))
                    if first
                    else "",
                    u.account if u else "",
                    (iso(u.uploaded_at) or "") + (" (file time)" if u and u.uploaded_at_source == "file_time" else "")
                    if u
                    else "",
                    (shown_path(u.path, base) + (" [gone]" if u.gone else "")) if u else "",
                    segments if first else "",
                )
            )
    return rows


def lookup_tables(result: LookupResult, base: str | None = None) -> str:
    """The identical file and copies, then, under a heading of their own, the related content."""
    near = [m for m in result.matches if m.kind in ("identical file", "copy")]
    far = [m for m in result.matches if m.kind not in ("identical file", "copy")]
    out = table(LOOKUP_HEADERS, lookup_rows(replace(result, matches=near), base)) if near else ""
    if far:
        out += ("\n" if out else "") + "Related content (same soundtrack over other pictures; not copies):\n"
        rows = lookup_rows(replace(result, matches=far), base)
        rows = [((str(int(r[0]) + len(near)), *r[1:])) if r[0] != "" else r for r in rows]  # ranks go on
        out += table(LOOKUP_HEADERS, rows)
    return out


def lookup_csv_rows(result: LookupResult) -> list[tuple]:
    return [
        (
            rank,
            m.video_id,
            m.alignment.score,
            m.alignment.matched_s,
            u.account,
            iso(u.uploaded_at),
            u.uploaded_at_source,
            u.path,
            s.q_start,
            s.q_end,
            s.r_start,
            s.r_end,
            s.speed,
            m.kind,
            signals_text(m.signals),
        )
        for rank, m in enumerate(result.matches, start=1)
        for u in result.uploads.get(m.video_id, [])
        for s in m.alignment.segments
    ]


def older_fingerprints_note(older: dict[tuple[bool, int], int], version: int) -> str | None:
    """One line on the stored videos hashed by an older version (`repo.older_fingerprints`) and
    what brings them up to date, or None when there are none. `version`: this one's."""

    def versions(imported: bool) -> str:
        return ", ".join(str(v) for v in sorted({v for (i, v) in older if i == imported}))

    here = sum(n for (imported, _), n in older.items() if not imported)
    imported = sum(n for (imported, _), n in older.items() if imported)
    parts = []
    if here:
        parts.append(
            f"{here} stored video(s) were fingerprinted by an older version of vidtrace (hash version "
            f"{versions(False)}, now {version}) and match less well until `vidtrace rescan` fingerprints them again"
        )
    if imported:
        parts.append(
            f"{imported} imported video(s) keep their source's hash version ({versions(True)}, now {version}): "
            "they match less well until a newer export from that source is imported"
        )
    return "; ".join(parts) or None
