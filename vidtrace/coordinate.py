"""Coordination: content clusters from matches, and accounts that post the same content together.

Pure: plain values in and out.

- Clusters. Two videos are the same content when their match covers most of the shorter one
  (a re-encode, a crop, a trimmed sub-clip). Those links are merged (union-find). A partial match
  (a compilation that contains a stretch of A and a stretch of B) does not merge A and B: the
  compilation joins both clusters as an extra member instead.
- Related content. A match of another kind than a copy ("same soundtrack": the sound of one
  video over other pictures, a dub or a reused voice-over) never merges clusters nor adds
  members: it relates two clusters (`related_clusters`), shown beside them.
- Events. Each upload with a posting time is an event (account, time, cluster) for every
  cluster its video belongs to.
- Links. Two accounts that post the same cluster within the window are linked for that cluster;
  a link's weight is the number of distinct clusters they co-posted. One coincidence is not
  coordination (viral clips are re-posted by strangers within the hour): a group needs links
  of weight at least `min_shared_clusters`.
- Groups. Connected components of the links that are strong enough, with at least
  `min_accounts` accounts, ranked by a score (see `group_score`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median, pstdev
from typing import Iterable, Sequence

#: A match covering at least this share of the shorter video makes the two one content.
SAME_CONTENT_MIN_SCORE = 0.8
#: The kind of match that makes content clusters; any other kind only relates them.
COPY = "copy"
#: Window used when there are too few re-posts to estimate one from the data (seconds).
FALLBACK_WINDOW_S = 3600.0
#: The data-driven window needs this many clusters with re-posts.
MIN_CLUSTERS_FOR_ESTIMATE = 10
#: The estimated window is this quantile of the delays between a cluster's first upload and its
#: re-posts (CooRnet estimates its coordination interval the same way).
WINDOW_QUANTILE = 0.1
#: Estimated windows are clamped to this range (seconds).
WINDOW_RANGE_S = (60.0, 6 * 3600.0)
#: Accounts must co-post at least this many distinct clusters to be linked.
MIN_SHARED_CLUSTERS = 2
#: Groups need at least this many accounts.
MIN_ACCOUNTS = 3
#: An account trailing the same source by lags whose spread is below this share of their mean,
#: over at least two clusters, is flagged as an amplifier.
AMPLIFIER_MAX_LAG_SPREAD = 0.5


@dataclass(frozen=True)
class MatchEdge:
    video_a: int
    video_b: int
    score: float
    kind: str = COPY  # "copy", or "same soundtrack" (related content, never merged)


@dataclass(frozen=True)
class Relation:
    """Clusters `cluster_a` < `cluster_b` hold related content (`kind`: "same soundtrack")."""

    cluster_a: int
    cluster_b: int
    kind: str


@dataclass(frozen=True)
class UploadEvent:
    upload_id: int
    video_id: int
    account: str
    uploaded_at: dt.datetime
    path: str = ""


@dataclass(frozen=True)
class Cluster:
    id: int  # the smallest video id of its core (stable as the cluster grows)
    core: tuple[int, ...]  # videos that are this content
    partial: tuple[int, ...]  # videos containing part of it (compilations)

    @property
    def videos(self) -> tuple[int, ...]:
        return self.core + self.partial


@dataclass(frozen=True)
class Evidence:
    cluster: int
    uploads: tuple[UploadEvent, ...]
    span_s: float


@dataclass(frozen=True)
class Group:
    accounts: tuple[str, ...]
    score: float
    clusters: tuple[int, ...]
    evidence: tuple[Evidence, ...]
    median_gap_s: float
    coordinated_share: float


@dataclass(frozen=True)
class Amplifier:
    account: str
    source: str
    clusters: tuple[int, ...]
    mean_lag_s: float
    lag_spread_s: float


@dataclass
class _UnionFind:
    """Disjoint sets of comparable items (video ids, account names); a set's root is its smallest."""

    parent: dict = field(default_factory=dict)

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_clusters(
    video_ids: Iterable[int], matches: Iterable[MatchEdge], same_content_min_score: float = SAME_CONTENT_MIN_SCORE
) -> list[Cluster]:
    """Content clusters: full matches merge videos; partial matches add a video to another cluster.

    A cluster whose videos partly match two or more other clusters is a compilation of them:
    its videos join each source cluster as partial members, and the sources do not join it.
    Any other partial match adds each side to the other's cluster.
    """
    uf = _UnionFind()
    for v in video_ids:
        uf.find(v)
    matches = [m for m in matches if m.kind == COPY]
    for m in matches:
        uf.find(m.video_a)
        uf.find(m.video_b)
        if m.score >= same_content_min_score:
            uf.union(m.video_a, m.video_b)
    core: dict[int, list[int]] = defaultdict(list)
    for v in list(uf.parent):
        core[uf.find(v)].append(v)
    partial_edges = [(uf.find(m.video_a), m.video_a, uf.find(m.video_b), m.video_b) for m in matches]
    partial_edges = [e for e in partial_edges if e[0] != e[2]]
    touches: dict[int, set[int]] = defaultdict(set)
    for ra, _, rb, _ in partial_edges:
        touches[ra].add(rb)
        touches[rb].add(ra)
    compilations = {root for root, others in touches.items() if len(others) >= 2}
    partial: dict[int, set[int]] = defaultdict(set)
    for ra, va, rb, vb in partial_edges:
        if ra not in compilations or rb in compilations:
            partial[ra].add(vb)
        if rb not in compilations or ra in compilations:
            partial[rb].add(va)
    return [
        Cluster(id=min(members), core=tuple(sorted(members)), partial=tuple(sorted(partial[root])))
        for root, members in sorted(core.items())
    ]


def related_clusters(clusters: Sequence[Cluster], matches: Iterable[MatchEdge]) -> list[Relation]:
    """Pairs of clusters joined by matches that are not copies (each kind once per pair), sorted.
    A compilation's or excerpt's partial memberships do not relate clusters: its core does."""
    core_of = {v: c.id for c in clusters for v in c.core}
    found = set()
    for m in matches:
        if m.kind == COPY:
            continue
        a, b = core_of.get(m.video_a), core_of.get(m.video_b)
        if a is not None and b is not None and a != b:
            found.add((min(a, b), max(a, b), m.kind))
    return [Relation(a, b, kind) for a, b, kind in sorted(found)]


def cluster_changes(before: Sequence[Cluster], after: Sequence[Cluster]) -> tuple[list[int], list[tuple[int, int]]]:
    """Clusters that are new, and (from, into) merges, between two clusterings of a growing store."""
    after_of_video = {v: c.id for c in after for v in c.core}
    before_ids = {c.id for c in before}
    merges = sorted(
        {(c.id, after_of_video[c.id]) for c in before if c.id in after_of_video and after_of_video[c.id] != c.id}
    )
    merged_into = {into for _, into in merges}
    new = sorted(c.id for c in after if c.id not in before_ids and c.id not in merged_into)
    return new, merges


def clusters_by_video(clusters: Sequence[Cluster]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for c in clusters:
        for v in c.videos:
            out[v].append(c.id)
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def estimate_window_s(events: Sequence[UploadEvent], clusters: Sequence[Cluster]) -> tuple[float, str]:
    """The co-posting window from the data, or the fallback; with a note of how it was chosen."""
    membership = clusters_by_video(clusters)
    times: dict[int, list[dt.datetime]] = defaultdict(list)
    for e in events:
        for c in membership.get(e.video_id, []):
            times[c].append(e.uploaded_at)
    delays = []
    reposted = 0
    for stamps in times.values():
        if len(stamps) < 2:
            continue
        reposted += 1
        first = min(stamps)
        delays += [(t - first).total_seconds() for t in stamps if t != first]
    if reposted < MIN_CLUSTERS_FOR_ESTIMATE or not delays:
        return FALLBACK_WINDOW_S, f"fixed fallback ({reposted} clusters with re-posts; {MIN_CLUSTERS_FOR_ESTIMATE} needed to estimate)"
    low, high = WINDOW_RANGE_S
    window = min(high, max(low, _quantile(delays, WINDOW_QUANTILE)))
    return window, f"estimated: {WINDOW_QUANTILE:.0%} quantile of re-post delays over {reposted} clusters"


def cluster_events(events: Sequence[UploadEvent], clusters: Sequence[Cluster]) -> dict[int, list[UploadEvent]]:
    membership = clusters_by_video(clusters)
    by_cluster: dict[int, list[UploadEvent]] = defaultdict(list)
    for e in events:
        for c in membership.get(e.video_id, []):
            by_cluster[c].append(e)
    for evs in by_cluster.values():
        evs.sort(key=lambda e: (e.uploaded_at, e.account, e.upload_id))
    return by_cluster


def account_links(by_cluster: dict[int, list[UploadEvent]], window_s: float) -> dict[tuple[str, str], dict[int, float]]:
    """(account, account) -> {cluster: smallest gap between their posts of it, seconds}."""
    links: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for cluster, evs in by_cluster.items():
        lo = 0
        for hi, later in enumerate(evs):
            while (later.uploaded_at - evs[lo].uploaded_at).total_seconds() > window_s:
                lo += 1
            for earlier in evs[lo:hi]:
                if earlier.account == later.account:
                    continue
                key = tuple(sorted((earlier.account, later.account)))
                gap = (later.uploaded_at - earlier.uploaded_at).total_seconds()
                links[key][cluster] = min(gap, links[key].get(cluster, gap))
    return links


def _bursts(events: Sequence[UploadEvent], window_s: float) -> list[list[UploadEvent]]:
    """Time-sorted events split where consecutive posts are more than the window apart; only
    bursts in which at least two accounts posted."""
    bursts: list[list[UploadEvent]] = []
    for e in events:
        if bursts and (e.uploaded_at - bursts[-1][-1].uploaded_at).total_seconds() <= window_s:
            bursts[-1].append(e)
        else:
            bursts.append([e])
    return [b for b in bursts if len({e.account for e in b}) >= 2]


def group_score(shared_clusters: int, median_gap_s: float, window_s: float, coordinated_share: float, accounts: int) -> float:
    """Rank of a group: distinct clusters co-posted, weighted by how tight the timing is (1 at no
    gap, 0.5 at the full window) and by the share of the accounts' uploads that are coordinated,
    times the log of the group's size.
    """
    tightness = 1.0 - 0.5 * min(1.0, median_gap_s / window_s) if window_s > 0 else 1.0
    return round(shared_clusters * tightness * coordinated_share * math.log2(1 + accounts), 3)


def find_groups(
    events: Sequence[UploadEvent],
    clusters: Sequence[Cluster],
    window_s: float,
    min_accounts: int = MIN_ACCOUNTS,
    min_shared_clusters: int = MIN_SHARED_CLUSTERS,
) -> list[Group]:
    """Groups of accounts that repeatedly post the same contents within `window_s`, best first."""
    by_cluster = cluster_events(events, clusters)
    links = account_links(by_cluster, window_s)
    strong = {pair: found for pair, found in links.items() if len(found) >= min_shared_clusters}
    accounts_uf = _UnionFind()
    for a, b in strong:
        accounts_uf.union(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for a in list(accounts_uf.parent):
        members[accounts_uf.find(a)].append(a)

    uploads_per_account: dict[str, set[int]] = defaultdict(set)
    for e in events:
        uploads_per_account[e.account].add(e.upload_id)

    groups = []
    for accounts in members.values():
        if len(accounts) < min_accounts:
            continue
        accounts_set = set(accounts)
        pairs = {p: f for p, f in strong.items() if p[0] in accounts_set}
        shared = sorted({c for found in pairs.values() for c in found})
        gaps = [g for found in pairs.values() for g in found.values()]
        evidence = []
        coordinated_uploads: set[int] = set()
        for c in shared:
            linked = {a for p, found in pairs.items() if c in found for a in p}
            for burst in _bursts([e for e in by_cluster[c] if e.account in linked], window_s):
                coordinated_uploads |= {e.upload_id for e in burst}
                span = (burst[-1].uploaded_at - burst[0].uploaded_at).total_seconds()
                evidence.append(Evidence(cluster=c, uploads=tuple(burst), span_s=span))
        total = set().union(*(uploads_per_account[a] for a in accounts))
        share = len(coordinated_uploads) / len(total) if total else 0.0
        med = median(gaps) if gaps else 0.0
        groups.append(
            Group(
                accounts=tuple(sorted(accounts)),
                score=group_score(len(shared), med, window_s, share, len(accounts)),
                clusters=tuple(shared),
                evidence=tuple(evidence),
                median_gap_s=round(med, 1),
                coordinated_share=round(share, 3),
            )
        )
    groups.sort(key=lambda g: (-g.score, g.accounts))
    return groups


def amplifiers(events: Sequence[UploadEvent], clusters: Sequence[Cluster], min_clusters: int = 2) -> list[Amplifier]:
    """Accounts that trail the same first poster ("patient zero") by a steady lag across clusters."""
    by_cluster = cluster_events(events, clusters)
    lags: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for c, evs in by_cluster.items():
        if len(evs) < 2:
            continue
        zero = evs[0]
        for e in evs[1:]:
            if e.account != zero.account and c not in lags[(e.account, zero.account)]:
                lags[(e.account, zero.account)][c] = (e.uploaded_at - zero.uploaded_at).total_seconds()
    found = []
    for (account, source), per_cluster in lags.items():
        if len(per_cluster) < min_clusters:
            continue
        values = list(per_cluster.values())
        mean = sum(values) / len(values)
        spread = pstdev(values)
        if mean > 0 and spread <= AMPLIFIER_MAX_LAG_SPREAD * mean:
            found.append(Amplifier(account, source, tuple(sorted(per_cluster)), round(mean, 1), round(spread, 1)))
    found.sort(key=lambda a: (a.source, a.mean_lag_s, a.account))
    return found


def patient_zero(events: Sequence[UploadEvent], clusters: Sequence[Cluster]) -> dict[int, tuple[UploadEvent, list[tuple[UploadEvent, float]]]]:
    """Per cluster: the first known upload, and each later upload with its lag behind it (seconds)."""
    out = {}
    for c, evs in cluster_events(events, clusters).items():
        zero = evs[0]
        out[c] = (zero, [(e, (e.uploaded_at - zero.uploaded_at).total_seconds()) for e in evs[1:]])
    return out
