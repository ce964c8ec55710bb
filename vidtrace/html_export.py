"""Gathers what the HTML report shows (store, analysis, stills) and writes the file."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vidtrace import chance, html_report, networks
from vidtrace import coordinate as co
from vidtrace.progress import Progress, silent
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store
from vidtrace.thumbnails import grab_jpeg

#: Content clusters shown as contact sheets, largest (most uploads) first.
REPORT_MAX_SHEETS = 40
#: Members shown on one contact sheet (the cluster's first videos; the rest are counted).
REPORT_MAX_SHEET_MEMBERS = 12


@dataclass(frozen=True)
class ReportOptions:
    """The coordination options of the report (as `coordination` takes them) and its case folder."""

    window_s: float | None = None
    min_accounts: int = co.MIN_ACCOUNTS
    min_clusters: int = co.MIN_SHARED_CLUSTERS
    fdr: float = chance.FDR
    file_times: bool = False
    base: Path | None = None  # paths are shown relative to it (default: the working folder)


def shown_path(path: str, base: Path) -> str:
    """A stored path as the report shows it: relative to the case folder, never absolute."""
    if path.startswith(repo.IMPORT_PATH_PREFIX) or not os.path.isabs(path):
        return path
    return os.path.relpath(path, base)


def _live_path(uploads: list[repo.UploadRecord]) -> str | None:
    return next((u.path for u in uploads if not u.gone and os.path.isfile(u.path)), None)


def _sides(m: repo.MatchRecord, video: int) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Each segment of `m` as ((start, end) in `video`, (start, end) in the other video)."""
    out = []
    for s in m.segments:
        a, b = (s.a_start_s, s.a_end_s), (s.b_start_s, s.b_end_s)
        out.append((a, b) if m.video_a_id == video else (b, a))
    return out


def _matched_instants(
    cluster: co.Cluster, matches: list[repo.MatchRecord], durations: dict[int, float | None]
) -> dict[int, float]:
    """Each member's instant (s) showing the same moment. The cluster's first video is shown in
    the middle of the stretch that all its matches cover (else of its first match's first
    segment); the instant is carried along copy matches to the other members through the segment
    that holds it (a segment's middle when none does). A video matched to none: its middle."""
    members = set(cluster.videos)
    links: dict[int, list[tuple[int, repo.MatchRecord]]] = {}
    for m in matches:
        if m.segments and m.video_a_id in members and m.video_b_id in members:
            links.setdefault(m.video_a_id, []).append((m.video_b_id, m))
            links.setdefault(m.video_b_id, []).append((m.video_a_id, m))
    start = cluster.core[0] if cluster.core else cluster.videos[0]
    at: dict[int, float] = {}
    if links.get(start):
        spans = [_sides(m, start)[0][0] for _, m in links[start]]
        low, high = max(a for a, _ in spans), min(b for _, b in spans)
        at[start] = (low + high) / 2 if low <= high else sum(spans[0]) / 2
        queue = deque([start])
        while queue:
            video = queue.popleft()
            for other, m in links.get(video, []):
                if other in at:
                    continue
                t = at[video]
                sides = _sides(m, video)
                mine, theirs = next(((a, b) for a, b in sides if a[0] <= t <= a[1] and a[1] > a[0]), sides[0])
                if mine[0] <= t <= mine[1] and mine[1] > mine[0]:
                    at[other] = theirs[0] + (t - mine[0]) * (theirs[1] - theirs[0]) / (mine[1] - mine[0])
                else:
                    at[other] = (theirs[0] + theirs[1]) / 2
                queue.append(other)
    for v in cluster.videos:
        at.setdefault(v, (durations.get(v) or 0.0) / 2)
    return at


def write_report(
    store: Store, path: Path, settings: Settings | None = None, window_s: float | None = None,
    options: ReportOptions | None = None, progress: Progress = silent,
) -> dict:  # fmt: skip
    """Write the self-contained HTML report to `path`; returns a few counts of what it holds."""
    settings = settings or Settings()
    options = options or ReportOptions(window_s=window_s)
    base = Path(options.base or os.getcwd()).absolute()
    with store.session() as session:
        counts = repo.table_counts(session)
        snap = networks.snapshot(
            session, options.window_s, options.min_accounts, options.min_clusters, options.file_times, options.fdr
        )  # fmt: skip
        found = repo.list_matches(session)
        uploads = repo.uploads_of_videos(session, {v for c in snap.clusters for v in c.videos})
        durations = {
            v.id: v.duration_s
            for v in repo.videos_by_id(session, {v for c in snap.clusters for v in c.videos}).values()
        }
    # A content posted more than once (as copies, or the same file by several accounts) gets a sheet.
    # Clusters related by their soundtrack get one too, so that the relation can be seen.
    related = {c for r in snap.related for c in (r.cluster_a, r.cluster_b)}
    shown = [c for c in snap.clusters if sum(len(uploads.get(v, [])) for v in c.videos) > 1 or c.id in related]
    shown.sort(key=lambda c: (-sum(len(uploads.get(v, [])) for v in c.videos), c.id))
    shown = shown[:REPORT_MAX_SHEETS]
    copies = [m for m in found if m.kind == co.COPY]
    total = sum(min(len(c.videos), REPORT_MAX_SHEET_MEMBERS) for c in shown)
    done = 0
    sheets = []
    for c in shown:
        at = _matched_instants(c, copies, durations)
        stills = []
        for video in c.videos[:REPORT_MAX_SHEET_MEMBERS]:
            ups = uploads.get(video, [])
            live = _live_path(ups)
            progress("report stills", done, total, item=live)
            ts_s = at.get(video)
            still = grab_jpeg(live, ts_s, settings) if live is not None and ts_s is not None else None
            done += 1
            stills.append(
                html_report.Still(
                    video_id=video,
                    ts_s=ts_s,
                    jpeg=still,
                    partial=video in c.partial,
                    uploads=tuple(
                        html_report.UploadView(
                            u.account,
                            u.platform or "",
                            u.uploaded_at,
                            u.uploaded_at_source,
                            u.url,
                            u.title,
                            shown_path(u.path, base),
                            u.gone,
                        )
                        for u in ups
                    ),
                )
            )
        sheets.append(html_report.ContactSheet(cluster=c.id, stills=tuple(stills), members=len(c.videos)))
    progress("report stills", total, total)
    links = co.account_links(co.cluster_events(snap.events, snap.clusters), snap.window_s)
    html = html_report.render(
        "vidtrace report", repo.utcnow().replace(microsecond=0), counts, snap, sheets, lambda p: shown_path(p, base),
        str(base.name), links=links,
    )  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
    return {
        "groups": len(snap.groups),
        "clusters": len(snap.clusters),
        "sheets": len(sheets),
        "related": len(snap.related),
    }
