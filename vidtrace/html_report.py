"""The investigator's report: one self-contained HTML file (no scripts, no network requests).

Pure: takes plain values, returns the HTML text. Every string from the data (account names,
titles, paths) is escaped: they come from hostile actors. A Content-Security-Policy forbids
scripts and any load other than the embedded images, as a second line of defence.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass
from html import escape

from vidtrace import coordinate as co
from vidtrace.report import duration_text, iso, safe_text

PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Above this many co-posting accounts the network shows only the groups' accounts (a circle of
#: thousands of chance links says nothing).
NETWORK_MAX_ACCOUNTS = 150
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right}.muted{color:#777}.pair{display:flex;gap:1em;align-items:flex-start;margin:.5em 0}
figure{margin:0}figcaption{font-size:.85em;color:#555;max-width:200px;overflow-wrap:anywhere}
.group{border-left:4px solid var(--c);padding-left:1em;margin:1em 0}svg text{font-size:11px}
"""


@dataclass(frozen=True)
class MatchView:
    """One match for the report, with optional stills of both sides at the first segment."""

    a_label: str
    b_label: str
    score: float
    matched_s: float
    segments: list[tuple[float, float, float, float]]
    a_still: bytes | None = None
    b_still: bytes | None = None
    kind: str = "copy"  # or "same soundtrack": related content, shown apart from copies
    signals: tuple[str, ...] = ("pictures",)


def esc(value: object) -> str:
    """HTML-escaped, with control characters and bidi overrides made visible (as in tables)."""
    return escape(safe_text(value), quote=True)


def _timeline_svg(events: list[co.UploadEvent], colour_of: dict[str, str]) -> str:
    accounts = sorted({e.account for e in events}, key=lambda a: min(e.uploaded_at for e in events if e.account == a))
    start = min(e.uploaded_at for e in events)
    span = max((max(e.uploaded_at for e in events) - start).total_seconds(), 1.0)
    left, width, row = 170, 560, 18
    height = row * len(accounts) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" role="img">']
    for i, account in enumerate(accounts):
        y = 15 + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{esc(account[:28])}</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" stroke="#eee"/>')
        for e in events:
            if e.account == account:
                x = left + width * (e.uploaded_at - start).total_seconds() / span
                colour = colour_of.get(account, "#555")
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="{colour}"><title>{esc(account)} {esc(iso(e.uploaded_at))} '
                    f"{esc(e.path)}</title></circle>"
                )
    parts.append(
        f'<text x="{left}" y="{height - 4}">{esc(iso(start))}</text>'
        f'<text x="{left + width}" y="{height - 4}" text-anchor="end">+{esc(duration_text(span))}</text></svg>'
    )
    return "".join(parts)


def _network_svg(accounts: list[str], links: dict[tuple[str, str], dict[int, float]], colour_of: dict[str, str]) -> str:
    size, radius = 460, 170
    centre = size / 2
    pos = {
        a: (centre + radius * math.cos(2 * math.pi * i / len(accounts)), centre + radius * math.sin(2 * math.pi * i / len(accounts)))
        for i, a in enumerate(accounts)
    }
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 200}" height="{size}" role="img">']
    for (a, b), found in sorted(links.items()):
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#888" stroke-width="{1 + 2 * len(found)}">'
                f"<title>{esc(a)} - {esc(b)}: {len(found)} content(s)</title></line>"
            )
    for a, (x, y) in pos.items():
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{colour_of.get(a, "#bbb")}"/>')
        anchor = "start" if x >= centre else "end"
        dx = 12 if x >= centre else -12
        parts.append(f'<text x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}">{esc(a[:32])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _img(still: bytes | None, caption: str) -> str:
    if not still:
        return f'<figure><div class="muted">(no still: file gone or not decodable)</div><figcaption>{esc(caption)}</figcaption></figure>'
    data = base64.b64encode(still).decode("ascii")
    return f'<figure><img alt="{esc(caption)}" src="data:image/jpeg;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>'


def render(
    title: str,
    generated_at: dt.datetime,
    counts: dict[str, int],
    snapshot,  # networks.Snapshot
    matches: list[MatchView],
) -> str:
    groups: list[co.Group] = snapshot.groups
    colour_of = {a: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups) for a in g.accounts}
    by_cluster = co.cluster_events(snapshot.events, snapshot.clusters)
    links = co.account_links(by_cluster, snapshot.window_s)
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1><p class='muted'>Generated {esc(iso(generated_at))}. Upload times are posting times from "
        "manifests; file times are never used here."
        + (f" {snapshot.file_time_only} upload(s) of contents posted more than once carry only file times and are left out."
           if snapshot.file_time_only else "") + "</p>",
        "<h2>Summary</h2><table>",
    ]
    summary = [
        ("videos (distinct contents)", counts.get("videos", 0)),
        ("uploads", counts.get("uploads", 0)),
        ("accounts", counts.get("accounts", 0)),
        ("matches", counts.get("matches", 0)),
        ("content clusters", len(snapshot.clusters)),
        ("related clusters (same soundtrack)", len(snapshot.related)),
        ("coordinated groups", len(groups)),
        ("co-posting window", f"{duration_text(snapshot.window_s)} ({snapshot.window_source})"),
    ]
    if snapshot.link_test is not None:
        summary.append(("links kept", f"{snapshot.link_test.links_kept}: {snapshot.link_test.rule}"))
    out += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary]
    out.append("</table>")

    out.append("<h2 id='groups'>Coordinated groups</h2>")
    if not groups:
        out.append("<p>No group of accounts repeatedly co-posted the same contents.</p>")
    for rank, g in enumerate(groups, start=1):
        colour = PALETTE[(rank - 1) % len(PALETTE)]
        out.append(f"<section class='group' style='--c:{colour}'><h3>Group {rank}: score {g.score:.2f}</h3>")
        out.append(
            f"<p>Accounts: <b class='accounts'>{esc(', '.join(g.accounts))}</b>. Contents co-posted: {len(g.clusters)}; "
            f"median gap {esc(duration_text(g.median_gap_s))}; {g.coordinated_share:.0%} of their uploads coordinated.</p>"
        )
        out.append(
            f"<p class='chance'>Co-posts between its accounts within the window: <b>{g.observed_coposts}</b> observed, "
            f"<b>{g.expected_coposts:.2f}</b> expected by chance from ordinary posting (p {g.chance_p:.2g}).</p>"
        )
        out.append("<table><tr><th>cluster</th><th>within</th><th>account</th><th>posted</th><th>file</th></tr>")
        for ev in g.evidence:
            for i, e in enumerate(ev.uploads):
                lead = f"<td rowspan='{len(ev.uploads)}'>{ev.cluster}</td><td rowspan='{len(ev.uploads)}'>{esc(duration_text(ev.span_s))}</td>" if i == 0 else ""
                out.append(f"<tr>{lead}<td>{esc(e.account)}</td><td>{esc(iso(e.uploaded_at))}</td><td>{esc(e.path)}</td></tr>")
        out.append("</table></section>")

    involved = sorted({a for pair in links for a in pair} | set(colour_of))
    shown = "Accounts that posted the same content within the window"
    if len(involved) > NETWORK_MAX_ACCOUNTS:
        shown = f"The accounts of the groups ({len(involved)} accounts co-posted within the window; chance links left out)"
        involved = sorted(colour_of)
    if involved:
        out.append(f"<h2>Account network</h2><p class='muted'>{esc(shown)}; "
                   "line width grows with the number of distinct contents; colours mark groups.</p>")
        out.append(_network_svg(involved, links, colour_of))

    out.append("<h2>Timelines</h2>")
    for c in snapshot.clusters:
        events = by_cluster.get(c.id, [])
        if len(events) < 2:
            continue
        zero = events[0]
        out.append(
            f"<h3>Cluster {c.id}</h3><p>{len(c.core)} video(s), {len(c.partial)} compilation(s) or excerpt(s); first posted "
            f"by <b>{esc(zero.account)}</b> at {esc(iso(zero.uploaded_at))}.{_related_text(c.id, snapshot.related)}</p>"
        )
        out.append(_timeline_svg(events, colour_of))

    copies = [m for m in matches if m.kind == co.COPY]
    related = [m for m in matches if m.kind != co.COPY]
    out.append("<h2 id='copies'>Matched frames</h2>")
    if not copies:
        out.append("<p>No copies stored.</p>")
    out += [_match_html(m) for m in copies]
    if related:
        out.append("<h2 id='related'>Same soundtrack (related content)</h2><p class='muted'>The same sound over other "
                   "pictures: a dub, or a voice-over reused on new footage. Related to each other, not copies; "
                   "content clusters keep them apart.</p>")
        out += [_match_html(m) for m in related]
    out.append("</body></html>")
    return "\n".join(out)


def _related_text(cluster: int, relations: list[co.Relation]) -> str:
    others = [
        (r.cluster_b if r.cluster_a == cluster else r.cluster_a, r.kind) for r in relations if cluster in (r.cluster_a, r.cluster_b)
    ]
    if not others:
        return ""
    return " Related: " + esc(", ".join(f"cluster {c} ({kind})" for c, kind in others)) + "."


def _match_html(m: MatchView) -> str:
    segs = "; ".join(f"{a0:.1f}-{a1:.1f} s = {b0:.1f}-{b1:.1f} s" for a0, a1, b0, b1 in m.segments)
    parts = [f"<div class='match'><p><b>{esc(m.a_label)}</b> and <b>{esc(m.b_label)}</b>: {esc(m.kind)}, score {m.score:.2f}, "
             f"{m.matched_s:.1f} s matched by {esc(' and '.join(m.signals))} ({esc(segs)})</p><div class='pair'>"]
    if m.segments:
        a0, a1, b0, b1 = m.segments[0]
        parts.append(_img(m.a_still, f"{m.a_label} at {(a0 + a1) / 2:.1f} s"))
        parts.append(_img(m.b_still, f"{m.b_label} at {(b0 + b1) / 2:.1f} s"))
    parts.append("</div></div>")
    return "".join(parts)
