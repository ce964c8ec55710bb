"""Rendering content clusters and coordinated groups: JSON documents, table rows and CSV rows.
Pure: a `vidtrace.results.clusters.Snapshot` in, plain values out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vidtrace.results.clusters import Snapshot, UploadEvent, clusters_by_video
from vidtrace.text import duration_text, iso, safe_text


def event_json(e: UploadEvent) -> dict:
    return {"account": e.account, "path": e.path, "uploaded_at": iso(e.uploaded_at)}


def clusters_json(snapshot: Snapshot, merges: Sequence[tuple[int, int, int]]) -> dict:
    membership = clusters_by_video(snapshot.clusters)
    related: dict[int, list[dict]] = {}
    for r in snapshot.related:
        related.setdefault(r.cluster_a, []).append({"cluster": r.cluster_b, "kind": r.kind})
        related.setdefault(r.cluster_b, []).append({"cluster": r.cluster_a, "kind": r.kind})
    by_cluster: dict[int, list[UploadEvent]] = {c.id: [] for c in snapshot.clusters}
    for e in snapshot.events:
        for cluster_id in membership.get(e.video_id, []):
            by_cluster[cluster_id].append(e)
    out = []
    for c in snapshot.clusters:
        events = sorted(by_cluster[c.id], key=lambda e: e.uploaded_at)
        zero = events[0] if events else None
        out.append(
            {
                "id": c.id,
                "videos": list(c.core),
                "partial_videos": list(c.partial),
                "uploads": [
                    {
                        **event_json(e),
                        "video_id": e.video_id,
                        "lag_s": (e.uploaded_at - events[0].uploaded_at).total_seconds(),
                    }
                    for e in events
                ],
                "accounts": sorted({e.account for e in events}),
                "patient_zero": event_json(zero) if zero else None,
                "merged_from": [f for _, f, into in merges if into == c.id],
                "related": related.get(c.id, []),
            }
        )
    return {"clusters": out}


CLUSTER_HEADERS = ("cluster", "videos", "partial", "uploads", "accounts", "first_upload", "first_account", "related")


def cluster_rows(document: dict) -> list[tuple]:
    return [
        (
            c["id"],
            len(c["videos"]),
            len(c["partial_videos"]),
            len(c["uploads"]),
            len(c["accounts"]),
            c["patient_zero"]["uploaded_at"] if c["patient_zero"] else "",
            c["patient_zero"]["account"] if c["patient_zero"] else "",
            ", ".join(f"{r['cluster']} ({r['kind']})" for r in c.get("related", [])),
        )
        for c in document["clusters"]
    ]


def coordination_json(snapshot: Snapshot) -> dict:
    return {
        "window_s": snapshot.window_s,
        "window_source": snapshot.window_source,
        "groups": [
            {
                "accounts": list(g.accounts),
                "score": g.score,
                "clusters": list(g.clusters),
                "median_gap_s": g.median_gap_s,
                "coordinated_share": g.coordinated_share,
                "evidence": [
                    {"cluster": ev.cluster, "uploads": [event_json(e) for e in ev.uploads], "span_s": ev.span_s}
                    for ev in g.evidence
                ],
            }
            for g in snapshot.groups
        ],
        "amplifiers": [
            {
                "account": a.account,
                "source": a.source,
                "clusters": list(a.clusters),
                "mean_lag_s": a.mean_lag_s,
                "lag_spread_s": a.lag_spread_s,
            }
            for a in snapshot.amplifiers
        ],
    }


GROUP_HEADERS = ("rank", "score", "accounts", "clusters", "median_gap", "coordinated")


GROUP_CSV_HEADERS = ("rank", "score", "accounts", "cluster", "span_s", "account", "uploaded_at", "path")


def group_rows(document: dict) -> list[tuple]:
    return [
        (
            rank,
            f"{g['score']:.2f}",
            ", ".join(g["accounts"]),
            ", ".join(map(str, g["clusters"])),
            duration_text(g["median_gap_s"]),
            f"{g['coordinated_share']:.0%}",
        )
        for rank, g in enumerate(document["groups"], start=1)
    ]


def evidence_lines(document: dict) -> list[str]:
    lines = []
    for rank, g in enumerate(document["groups"], start=1):
        lines.append(f"group {rank}:")
        for ev in g["evidence"]:
            # One post stored under two paths (a folder copied elsewhere) is one post, its files counted.
            files = Counter((u["account"], u["uploaded_at"]) for u in ev["uploads"])
            posts = ", ".join(f"{a} {t}" + (f" ({n} files)" if n > 1 else "") for (a, t), n in files.items())
            lines.append(f"  cluster {ev['cluster']} within {duration_text(ev['span_s'])}: {posts}")
    return [safe_text(line) for line in lines]


def group_csv_rows(document: dict) -> list[tuple]:
    return [
        (
            rank,
            g["score"],
            ";".join(g["accounts"]),
            ev["cluster"],
            ev["span_s"],
            u["account"],
            u["uploaded_at"],
            u["path"],
        )
        for rank, g in enumerate(document["groups"], start=1)
        for ev in g["evidence"]
        for u in ev["uploads"]
    ]
