"""Content clusters from matches.

Two videos are the same content when their match covers most of the shorter one (a re-encode, a
crop, a trimmed sub-clip), or when it is a whole copy on the same time line whose score an
overlay lowered. Those links are merged (union-find). A partial match (a compilation that
contains a stretch of A and a stretch of B) does not merge A and B: the compilation joins both
clusters as an extra member instead. A match of another kind than a copy ("same soundtrack")
never merges clusters nor adds members: it relates two clusters. Pure: plain values in and out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vidtrace.results.clusters import Cluster, MatchEdge, Relation

#: A match covering at least this share of the shorter video makes the two one content.
SAME_CONTENT_MIN_SCORE = 0.8
#: A weaker match still makes one content when it is a whole copy on the same time line (see
#: `same_time_line`): a large logo or caption hides part of the pictures and lowers the score of
#: a copy, not its timing. The share of the shorter video it must still cover:
WHOLE_COPY_MIN_SCORE = 0.6
#: ...with both videos this close in length (share of the longer, at least `WHOLE_COPY_SLACK_S`)
WHOLE_COPY_LENGTH_SHARE = 0.05
#: ...and every segment at the same instants in both videos, within this (seconds), at speed 1.
WHOLE_COPY_SLACK_S = 1.0
#: The kind of match that makes content clusters; any other kind only relates them.
COPY = "copy"


def same_time_line(
    segments: Sequence[tuple[float, float, float, float, float]], duration_a_s: float, duration_b_s: float, score: float
) -> bool:
    """Whether a match is a whole copy whose score was lowered by an overlay: both videos about
    as long, every segment (a_start, a_end, b_start, b_end, speed) at the same instants in both
    at speed 1, covering at least `WHOLE_COPY_MIN_SCORE` of the shorter. An excerpt, a
    compilation or a shifted re-cut is none of these."""
    if not segments or score < WHOLE_COPY_MIN_SCORE:
        return False
    slack = max(WHOLE_COPY_SLACK_S, WHOLE_COPY_LENGTH_SHARE * max(duration_a_s, duration_b_s))
    if abs(duration_a_s - duration_b_s) > slack:
        return False
    return all(
        abs(speed - 1.0) < 0.01 and abs(b0 - a0) <= WHOLE_COPY_SLACK_S and abs(b1 - a1) <= WHOLE_COPY_SLACK_S
        for a0, a1, b0, b1, speed in segments
    )


@dataclass
class UnionFind:
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
    uf = UnionFind()
    for v in video_ids:
        uf.find(v)
    matches = [m for m in matches if m.kind == COPY]
    for m in matches:
        uf.find(m.video_a)
        uf.find(m.video_b)
        if m.score >= same_content_min_score or m.whole_copy:
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
