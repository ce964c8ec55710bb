"""Content clusters, upload events and coordinated groups: what coordination hands back."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from vidtrace.results.matches import COPY
from vidtrace.results.records import UploadRecord


@dataclass(frozen=True)
class MatchEdge:
    video_a: int
    video_b: int
    score: float
    kind: str = COPY  # "copy", or "same soundtrack" (related content, never merged)
    #: a whole copy on the same time line (`same_time_line`): the same content at a lower score
    whole_copy: bool = False


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
    #: co-posts within the window summed over every pair of the group's accounts (distinct
    #: contents per pair), and what the null model of ordinary posting expects of them by chance
    observed_coposts: int = 0
    expected_coposts: float = 0.0
    #: the Poisson tail of the observed co-posts given the expected ones (pairs are not
    #: independent: a figure for the analyst, not the test that kept the links)
    chance_p: float = 1.0


@dataclass(frozen=True)
class LinkTest:
    """How links were kept: pairs tested, links kept, and whether the chance test applied."""

    pairs_tested: int
    links_kept: int
    applied: bool
    fdr: float
    rule: str
    #: accounts joined to a group by their co-posts with the group as a whole, and the
    #: (account, group) pairs tested for it
    accounts_joined: int = 0
    joins_tested: int = 0


@dataclass(frozen=True)
class Coordination:
    groups: list[Group]
    link_test: LinkTest


@dataclass(frozen=True)
class Amplifier:
    account: str
    source: str
    clusters: tuple[int, ...]
    mean_lag_s: float
    lag_spread_s: float


def clusters_by_video(clusters: Sequence[Cluster]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for c in clusters:
        for v in c.videos:
            out[v].append(c.id)
    return out


def cluster_events(events: Sequence[UploadEvent], clusters: Sequence[Cluster]) -> dict[int, list[UploadEvent]]:
    membership = clusters_by_video(clusters)
    by_cluster: dict[int, list[UploadEvent]] = defaultdict(list)
    for e in events:
        for c in membership.get(e.video_id, []):
            by_cluster[c].append(e)
    for evs in by_cluster.values():
        evs.sort(key=lambda e: (e.uploaded_at, e.account, e.upload_id))
    return by_cluster


@dataclass(frozen=True)
class Snapshot:
    clusters: list[Cluster]
    events: list[UploadEvent]
    window_s: float
    window_source: str
    groups: list[Group]
    amplifiers: list[Amplifier]
    uploads: dict[int, UploadRecord]  # upload id -> upload, for the events
    #: clusters of related content (same soundtrack over other pictures), never merged
    related: list[Relation] = field(default_factory=list)
    #: how the groups' links were kept (pairs tested, the chance test and its rule)
    link_test: LinkTest | None = None
    #: uploads left out because they carry only a file time, in clusters posted more than once
    #: (where coordination would have used them)
    file_time_only: int = 0


@dataclass(frozen=True)
class Changes:
    new_clusters: list[int]
    merges: list[tuple[int, int]]
    new_groups: list[tuple[str, ...]]
    grown_groups: list[tuple[str, ...]]


@dataclass(frozen=True)
class Placement:
    """Where a stored video stands: its content clusters and the coordinated groups (ranks, from
    1) that co-posted any of them."""

    clusters: tuple[int, ...]
    groups: tuple[int, ...]
