"""The investigator's report: one self-contained HTML file (no scripts, no network requests).

Pure: takes plain values, returns the HTML text. Every string from the data (account names,
titles, paths) is escaped: they come from hostile actors. A Content-Security-Policy forbids
scripts and any load other than the embedded images, as a second line of defence.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass, replace
from html import escape

from vidtrace.results.clusters import Group, Relation, Snapshot, UploadEvent, cluster_events
from vidtrace.text import duration_text, iso, safe_text

PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Above this many co-posting accounts the network shows only the groups' accounts (a circle of
#: thousands of chance links says nothing).
NETWORK_MAX_ACCOUNTS = 150
#: Longest account label drawn in full in the drawings (characters; the whole name is its tooltip).
LABEL_MAX_CHARS = 40
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right}.muted{color:#777}.pair{display:flex;gap:1em;align-items:flex-start;margin:.5em 0}
figure{margin:0}figcaption{font-size:.85em;color:#555;max-width:200px;overflow-wrap:anywhere}
.group{border-left:4px solid var(--c);padding-left:1em;margin:1em 0}svg text{font-size:11px}
.sheet{display:flex;flex-wrap:wrap;gap:.75em;align-items:flex-start;margin:.5em 0 1.5em}
.sheet figure{width:200px}.sheet img{width:200px;display:block}.sheet ul{margin:.2em 0;padding-left:1em;font-size:.85em}
a{overflow-wrap:anywhere}
"""


@dataclass(frozen=True)
class UploadView:
    """One upload of a video, as the report shows it (path already relative to the case folder)."""

    account: str | None  # None: an upload without an account
    platform: str
    uploaded_at: dt.datetime | None
    uploaded_at_source: str | None
    url: str | None
    title: str | None
    path: str
    gone: bool = False


@dataclass(frozen=True)
class Still:
    """One member of a content cluster: a still at the instant matched across the cluster."""

    video_id: int
    ts_s: float | None
    jpeg: bytes | None
    uploads: tuple[UploadView, ...]
    partial: bool = False  # a compilation or excerpt holding part of the content


@dataclass(frozen=True)
class ContactSheet:
    cluster: int
    stills: tuple[Still, ...]
    members: int  # videos in the cluster (more than shown when the sheet is cut)


def esc(value: object) -> str:
    """HTML-escaped, with control characters and bidi overrides made visible (as in tables)."""
    return escape(safe_text(value), quote=True)


def _label_width_px(labels) -> int:
    """Room for the longest label (11 px text: about 7 px a character, wide characters more)."""
    longest = max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in safe_text(a)) for a in labels), default=0)
    return 7 * min(longest, LABEL_MAX_CHARS) + 16


def _label(text: str) -> str:
    text = safe_text(text)
    return text if len(text) <= LABEL_MAX_CHARS else text[: LABEL_MAX_CHARS - 1] + "…"


def _timeline_svg(events: list[UploadEvent], colour_of: dict[str, str]) -> str:
    accounts = sorted({e.account for e in events}, key=lambda a: min(e.uploaded_at for e in events if e.account == a))
    start = min(e.uploaded_at for e in events)
    span = max((max(e.uploaded_at for e in events) - start).total_seconds(), 1.0)
    left, width, row = max(60, _label_width_px(accounts)), 560, 18
    height = row * len(accounts) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" role="img">']
    for i, account in enumerate(accounts):
        y = 15 + i * row
        parts.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{esc(_label(account))}<title>{esc(account)}</title></text>'
        )
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
    """Accounts on a circle, with margins wide enough for the longest label on either side."""
    radius = 170
    margin = _label_width_px(accounts) + 12
    width, height = 2 * (radius + margin), 2 * radius + 60
    cx, cy = width / 2, height / 2
    pos = {
        a: (
            cx + radius * math.cos(2 * math.pi * i / len(accounts)),
            cy + radius * math.sin(2 * math.pi * i / len(accounts)),
        )
        for i, a in enumerate(accounts)
    }
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" role="img" class="network">'
    ]
    for (a, b), found in sorted(links.items()):
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#888" stroke-width="{1 + 2 * len(found)}">'
                f"<title>{esc(a)} - {esc(b)}: {len(found)} content(s)</title></line>"
            )
    for a, (x, y) in pos.items():
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{colour_of.get(a, "#bbb")}"/>')
        anchor = "start" if x >= cx else "end"
        dx = 12 if x >= cx else -12
        parts.append(
            f'<text x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}">{esc(_label(a))}<title>{esc(a)}</title></text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _link(url: str | None, text: str) -> str:
    """An http(s) link (any other scheme is shown as text, never followed)."""
    if url and url.lower().startswith(("https://", "http://")):
        return f'<a href="{esc(url)}" rel="noopener noreferrer">{esc(text)}</a>'
    return esc(text)


def _upload_item(u: UploadView) -> str:
    when = iso(u.uploaded_at) or "time unknown"
    if u.uploaded_at_source == "file_time":
        when += " (file time)"
    title = f"“{esc(u.title)}” " if u.title else ""
    url = f" {_link(u.url, u.url)}" if u.url else ""
    account = f"{u.platform}:{u.account}" if u.platform else u.account
    gone = " [gone]" if u.gone else ""
    return f"<li><b>{esc(account)}</b> {esc(when)}: {title}{url}<br><span class='muted path'>{esc(u.path)}{gone}</span></li>"


def _sheet_html(sheet: ContactSheet) -> str:
    figures = []
    for still in sheet.stills:
        at = f" at {still.ts_s:.1f} s" if still.ts_s is not None else ""
        caption = f"#{still.video_id}{at}" + (" (part of a compilation)" if still.partial else "")
        picture = (
            f'<img alt="{esc(caption)}" src="data:image/jpeg;base64,{base64.b64encode(still.jpeg).decode("ascii")}">'
            if still.jpeg else '<div class="muted">(no still: file gone or not decodable)</div>'
        )  # fmt: skip
        items = "".join(_upload_item(u) for u in still.uploads)
        figures.append(
            f"<figure class='member'>{picture}<figcaption>{esc(caption)}<ul>{items}</ul></figcaption></figure>"
        )
    more = sheet.members - len(sheet.stills)
    note = f"<p class='muted'>{more} more member(s) not shown.</p>" if more > 0 else ""
    return (
        f"<section class='contact-sheet' id='cluster-{sheet.cluster}'><h3>Cluster {sheet.cluster}: {sheet.members} video(s)</h3>"
        f"<div class='sheet'>{''.join(figures)}</div>{note}</section>"
    )


def render(
    title: str,
    generated_at: dt.datetime,
    counts: dict[str, int],
    snapshot: Snapshot,
    sheets: list[ContactSheet],
    show_path=lambda path: path,  # a stored path as shown (relative to the case folder)
    case_name: str = "",
    *,
    links: dict[tuple[str, str], dict[int, float]],  # `coordinate.account_links` of the snapshot's events
) -> str:
    groups: list[Group] = snapshot.groups
    colour_of = {a: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups) for a in g.accounts}
    by_cluster = cluster_events(snapshot.events, snapshot.clusters)
    upload_of = snapshot.uploads
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1><p class='muted'>Generated {esc(iso(generated_at))}"
        + (f" for the case folder <b>{esc(case_name)}</b> (file paths are relative to it)" if case_name else "")
        + ". Upload times are posting times from manifests and yt-dlp sidecars; file times are never used here."
        + (
            f" {snapshot.file_time_only} upload(s) of contents posted more than once carry only file times and are left out."
            if snapshot.file_time_only
            else ""
        )
        + "</p>",
        "<section id='summary'><h2>Summary</h2><table>",
    ]
    summary = [
        ("videos (distinct contents)", counts.get("videos", 0)),
        ("uploads", counts.get("uploads", 0)),
        ("accounts", counts.get("accounts", 0)),
        ("matches", counts.get("matches", 0)),
        ("content clusters", len(snapshot.clusters)),
        ("related clusters (same soundtrack)", len(snapshot.related)),
        ("coordinated groups", len(groups)),
        ("amplifiers", len(snapshot.amplifiers)),
        ("co-posting window", f"{duration_text(snapshot.window_s)} ({snapshot.window_source})"),
    ]
    if snapshot.link_test is not None:
        summary.append(("links kept", f"{snapshot.link_test.links_kept}: {snapshot.link_test.rule}"))
    out += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary]
    out.append("</table></section>")

    out.append("<section id='groups'><h2>Coordinated groups</h2>")
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
        out.append(
            "<table><tr><th>cluster</th><th>within</th><th>account</th><th>posted</th><th>post</th><th>file</th></tr>"
        )
        for ev in g.evidence:
            for i, e in enumerate(ev.uploads):
                lead = (
                    f"<td rowspan='{len(ev.uploads)}'><a href='#cluster-{ev.cluster}'>{ev.cluster}</a></td>"
                    f"<td rowspan='{len(ev.uploads)}'>{esc(duration_text(ev.span_s))}</td>"
                ) if i == 0 else ""  # fmt: skip
                u = upload_of.get(e.upload_id)
                post = _link(u.url, u.title or u.url) if u is not None and u.url else esc(u.title if u else "")
                out.append(
                    f"<tr>{lead}<td>{esc(e.account)}</td><td>{esc(iso(e.uploaded_at))}</td><td>{post}</td><td>{esc(show_path(e.path))}</td></tr>"
                )
        out.append("</table></section>")
    out.append("</section>")

    out.append("<section id='amplifiers'><h2>Amplifiers</h2>")
    if not snapshot.amplifiers:
        out.append("<p>No account trails another by a steady lag over several contents.</p>")
    else:
        out.append(
            "<p class='muted'>Accounts that re-post another account's contents after a steady lag, content after "
            "content (a relay or a re-poster that follows a source).</p>"
        )
        out.append("<table><tr><th>account</th><th>trails</th><th>mean lag</th><th>spread</th><th>clusters</th></tr>")
        for a in snapshot.amplifiers:
            clusters = ", ".join(f"<a href='#cluster-{c}'>{c}</a>" for c in a.clusters)
            out.append(
                f"<tr><td>{esc(a.account)}</td><td>{esc(a.source)}</td><td>{esc(duration_text(a.mean_lag_s))}</td>"
                f"<td>{esc(duration_text(a.lag_spread_s))}</td><td>{clusters}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")

    involved = sorted({a for pair in links for a in pair} | set(colour_of))
    shown = "Accounts that posted the same content within the window"
    if len(involved) > NETWORK_MAX_ACCOUNTS:
        shown = (
            f"The accounts of the groups ({len(involved)} accounts co-posted within the window; chance links left out)"
        )
        involved = sorted(colour_of)
    if involved:
        out.append(
            f"<section id='network'><h2>Account network</h2><p class='muted'>{esc(shown)}; "
            "line width grows with the number of distinct contents; colours mark groups.</p>"
        )
        out.append(_network_svg(involved, links, colour_of))
        out.append("</section>")

    out.append("<section id='timelines'><h2>Timelines</h2>")
    for c in snapshot.clusters:
        events = by_cluster.get(c.id, [])
        if len(events) < 2:
            continue
        zero = events[0]
        out.append(
            f"<h3>Cluster <a href='#cluster-{c.id}'>{c.id}</a></h3><p>{len(c.core)} video(s), {len(c.partial)} compilation(s) "
            f"or excerpt(s); first posted by <b>{esc(zero.account)}</b> at {esc(iso(zero.uploaded_at))}."
            f"{_related_text(c.id, snapshot.related)}</p>"
        )
        out.append(_timeline_svg([replace(e, path=show_path(e.path)) for e in events], colour_of))
    out.append("</section>")

    out.append(
        "<section id='copies'><h2>Contents: one contact sheet per cluster</h2><p class='muted'>Each content "
        "cluster's videos side by side, each still taken at the instant the matches align across the cluster; "
        "under each, its uploads with account, posting time, title and link.</p>"
    )
    if not sheets:
        out.append("<p>No content was posted as more than one video.</p>")
    out += [_sheet_html(sheet) for sheet in sheets]
    out.append("</section>")

    if snapshot.related:
        out.append(
            "<section id='related'><h2>Same soundtrack (related content)</h2><p class='muted'>The same sound over "
            "other pictures: a dub, or a voice-over reused on new footage. Related to each other, not copies; "
            "content clusters keep them apart.</p><ul>"
        )
        with_sheet = {sheet.cluster for sheet in sheets}

        def cluster_link(c: int) -> str:
            return f"<a href='#cluster-{c}'>cluster {c}</a>" if c in with_sheet else f"cluster {c}"

        for r in snapshot.related:
            out.append(f"<li>{cluster_link(r.cluster_a)} and {cluster_link(r.cluster_b)}: {esc(r.kind)}</li>")
        out.append("</ul></section>")
    out.append("</body></html>")
    return "\n".join(out)


def _related_text(cluster: int, relations: list[Relation]) -> str:
    others = [
        (r.cluster_b if r.cluster_a == cluster else r.cluster_a, r.kind)
        for r in relations
        if cluster in (r.cluster_a, r.cluster_b)
    ]
    if not others:
        return ""
    return " Related: " + esc(", ".join(f"cluster {c} ({kind})" for c, kind in others)) + "."
