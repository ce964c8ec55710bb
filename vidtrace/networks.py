"""Coordination over the store: load matches and dated uploads, then run the pure analysis."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidtrace import chance
from vidtrace import coordinate as co
from vidtrace.results.clusters import Changes, Snapshot
from vidtrace.store import repo


def _account_names(uploads: list[repo.UploadRecord]) -> dict[int, str]:
    """Handles alone when every account is on one platform, else `platform:handle` (of the uploads
    with an account: all the dated ones)."""
    platforms = {u.platform for u in uploads}
    if len(platforms) <= 1:
        return {u.id: u.account for u in uploads if u.account is not None}
    return {u.id: f"{u.platform}:{u.account}" if u.platform else u.account for u in uploads if u.account is not None}


def _edges(session: Session) -> list[co.MatchEdge]:
    """Every match as an edge; a copy below the same-content score is checked for being a whole
    copy on the same time line (a logo or caption lowered its score)."""
    links = repo.match_links(session)
    weaker = [
        m.id for m in links if m.kind == co.COPY and co.WHOLE_COPY_MIN_SCORE <= m.score < co.SAME_CONTENT_MIN_SCORE
    ]
    score = {m.id: m.score for m in links}
    lines = repo.match_time_lines(session, weaker) if weaker else {}
    whole = {mid for mid, (da, db, segments) in lines.items() if co.same_time_line(segments, da, db, score[mid])}
    return [co.MatchEdge(m.video_a_id, m.video_b_id, m.score, m.kind, m.id in whole) for m in links]


def clusters(session: Session, edges: list[co.MatchEdge] | None = None) -> list[co.Cluster]:
    """Content clusters: copies merge, other kinds of match (same soundtrack) do not."""
    return co.build_clusters(repo.ok_video_ids(session), _edges(session) if edges is None else edges)


def snapshot(
    session: Session,
    window_s: float | None = None,
    min_accounts: int = co.MIN_ACCOUNTS,
    min_shared_clusters: int = co.MIN_SHARED_CLUSTERS,
    include_file_times: bool = False,
    fdr: float = chance.FDR,
) -> Snapshot:
    """Clusters, events, the window, the coordinated groups and the amplifiers of the store now."""
    edges = _edges(session)
    found = clusters(session, edges)
    uploads = repo.dated_uploads(session, include_file_times)
    undated = [] if include_file_times else repo.file_time_uploads(session)
    names = _account_names(uploads)
    events = [
        co.UploadEvent(u.id, u.video_id, names[u.id], u.uploaded_at, u.path)
        for u in uploads
        if u.uploaded_at is not None
    ]
    if window_s is None:
        window_s, source = co.estimate_window_s(events, found)
    else:
        source = "given"
    coordination = co.coordinate(events, found, window_s, min_accounts, min_shared_clusters, fdr)
    return Snapshot(
        clusters=found,
        events=events,
        window_s=window_s,
        window_source=source,
        groups=coordination.groups,
        amplifiers=co.amplifiers(events, found),
        uploads={u.id: u for u in uploads},
        related=co.related_clusters(found, edges),
        link_test=coordination.link_test,
        file_time_only=_needed_file_times(found, uploads, undated),
    )


def _needed_file_times(found: list[co.Cluster], dated: list[repo.UploadRecord], undated: list[tuple[int, int]]) -> int:
    """How many of the uploads with only a file time are in clusters with two or more uploads
    in all: the ones coordination would need to compare posting times."""
    if not undated:
        return 0
    membership = co.clusters_by_video(found)
    per_cluster: dict[int, int] = {}
    for video_id in [u.video_id for u in dated] + [v for _, v in undated]:
        for c in membership.get(video_id, []):
            per_cluster[c] = per_cluster.get(c, 0) + 1
    return sum(1 for _, v in undated if any(per_cluster[c] >= 2 for c in membership.get(v, [])))


def changes(before: Snapshot, after: Snapshot) -> Changes:
    """What a scan changed: new and merged clusters, coordinated groups that appeared or grew."""
    new_clusters, merges = co.cluster_changes(before.clusters, after.clusters)
    old = [(set(g.accounts), set(g.clusters)) for g in before.groups]
    new_groups, grown = [], []
    for g in after.groups:
        accounts, cl = set(g.accounts), set(g.clusters)
        overlapping = [(a, c) for a, c in old if a & accounts]
        if not overlapping:
            new_groups.append(g.accounts)
        elif not any(a >= accounts and c >= cl for a, c in overlapping):
            grown.append(g.accounts)
    return Changes(new_clusters, merges, new_groups, grown)
