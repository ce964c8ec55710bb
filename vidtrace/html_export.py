"""Gathers what the HTML report shows (store, analysis, stills) and writes the file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vidtrace import html_report, networks
from vidtrace.report import upload_label
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store
from vidtrace.thumbnails import grab_jpeg

#: Copies shown with stills in the report, best first.
REPORT_MAX_MATCHES = 40
#: Matches of related content (same soundtrack) shown with stills, best first.
REPORT_MAX_RELATED = 20


def _live_path(uploads: list[repo.UploadRecord]) -> str | None:
    return next((u.path for u in uploads if not u.gone and os.path.isfile(u.path)), None)


def write_report(store: Store, path: Path, settings: Settings | None = None, window_s: float | None = None) -> dict:
    """Write the self-contained HTML report to `path`; returns a few counts of what it holds."""
    settings = settings or Settings()
    with store.session() as session:
        counts = repo.table_counts(session)
        snap = networks.snapshot(session, window_s)
        # The best copies, then the best matches of related content (same soundtrack).
        found = repo.list_matches(session)
        matches = [m for m in found if m.kind == "copy"][:REPORT_MAX_MATCHES]
        matches += [m for m in found if m.kind != "copy"][:REPORT_MAX_RELATED]
        uploads = repo.uploads_of_videos(session, {v for m in matches for v in (m.video_a_id, m.video_b_id)})
    views = []
    for m in matches:
        a_up, b_up = uploads.get(m.video_a_id, []), uploads.get(m.video_b_id, [])
        a_still = b_still = None
        if m.segments:
            s = m.segments[0]
            if (a_path := _live_path(a_up)) is not None:
                a_still = grab_jpeg(a_path, (s.a_start_s + s.a_end_s) / 2, settings)
            if (b_path := _live_path(b_up)) is not None:
                b_still = grab_jpeg(b_path, (s.b_start_s + s.b_end_s) / 2, settings)
        views.append(
            html_report.MatchView(
                a_label=upload_label(a_up, m.video_a_id),
                b_label=upload_label(b_up, m.video_b_id),
                score=m.score,
                matched_s=m.matched_s,
                segments=[(s.a_start_s, s.a_end_s, s.b_start_s, s.b_end_s) for s in m.segments],
                a_still=a_still,
                b_still=b_still,
                kind=m.kind,
                signals=m.signals,
            )
        )
    html = html_report.render("vidtrace report", repo.utcnow(), counts, snap, views)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
    return {"groups": len(snap.groups), "clusters": len(snap.clusters), "matches": len(views)}
