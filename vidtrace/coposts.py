"""Co-posts: accounts that post the same content cluster within a time window, and the window.

The window is estimated from the data (`estimate_window_s`); two accounts' posts of one cluster
less than the window apart are a co-post, counted once per upload (`find_coposts`). Pure: plain
values in and out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidtrace import chance
from vidtrace.clustering import UnionFind
from vidtrace.results.clusters import Cluster, UploadEvent, cluster_events

#: Window used when there are too few re-posts to estimate one from the data (seconds).
FALLBACK_WINDOW_S = 3600.0
#: The data-driven window needs this many clusters with re-posts.
MIN_CLUSTERS_FOR_ESTIMATE = 10
#: Estimated windows are clamped to this range (seconds).
WINDOW_RANGE_S = (60.0, 6 * 3600.0)


def _timestamps(events: Sequence[UploadEvent]) -> np.ndarray:
    return np.array([e.uploaded_at.timestamp() for e in events], dtype=float)


def estimate_window_s(events: Sequence[UploadEvent], clusters: Sequence[Cluster]) -> tuple[float, str]:
    """The co-posting window from the data, or the fallback; with a note of how it was chosen.

    The window is the smallest gap that holds `chance.EXCESS_SHARE` of the co-posting beyond what
    ordinary posting gives by chance (`chance.estimate_window`): content posted all day long by
    many accounts is what chance gives, so it does not stretch the window.
    """
    by_cluster = cluster_events(events, clusters)
    times = [_timestamps(evs) for evs in by_cluster.values() if len(evs) >= 2]
    reposted = len(times)
    if reposted < MIN_CLUSTERS_FOR_ESTIMATE:
        return (
            FALLBACK_WINDOW_S,
            f"fixed fallback ({reposted} clusters with re-posts; {MIN_CLUSTERS_FOR_ESTIMATE} needed to estimate)",
        )
    found = chance.estimate_window(times, chance.TimeOfDay(_timestamps(events)))
    if found.window_s is None:
        return FALLBACK_WINDOW_S, (
            f"fixed fallback (no co-posting beyond chance by {chance.EXCESS_NOISE_SD:g} standard deviations over {reposted} "
            "clusters)"
        )
    low, high = WINDOW_RANGE_S
    window = min(high, max(low, found.window_s))
    return window, (
        f"estimated: holds {chance.EXCESS_SHARE:.0%} of the co-posting beyond chance "
        f"({found.excess_pairs:.0f} weighted pairs of posts over {reposted} clusters)"
    )


@dataclass(frozen=True)
class Coposts:
    """One row per (pair of accounts, cluster) co-posted within the window: account indices
    a < b, the cluster and the smallest gap between their posts of it (seconds)."""

    names: list[str]  # account index -> name
    a: np.ndarray
    b: np.ndarray
    cluster: np.ndarray
    gap_s: np.ndarray


def cluster_arrays(
    by_cluster: dict[int, list[UploadEvent]], index: dict[str, int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per cluster, (account indices, posting times in seconds) of its time-sorted events."""
    return {
        c: (np.array([index[e.account] for e in evs], dtype=np.int64), _timestamps(evs))
        for c, evs in by_cluster.items()
    }


def cluster_uploads(by_cluster: dict[int, list[UploadEvent]]) -> dict[int, np.ndarray]:
    """Per cluster, the upload ids of its time-sorted events (aligned with `cluster_arrays`)."""
    return {c: np.array([e.upload_id for e in evs], dtype=np.int64) for c, evs in by_cluster.items()}


def once_per_upload(rows: list[tuple[int, int, int]]) -> set[int]:
    """Of one pair's co-posts (row, upload of one account, upload of the other), the rows to
    keep so that each upload counts once: co-posts that share an upload (one upload in two
    overlapping clusters, such as a compilation) are one co-post, the first row standing for it."""
    uf = UnionFind()
    for row, ua, ub in rows:
        uf.union(("row", row), ("a", ua))
        uf.union(("row", row), ("b", ub))
    kept: dict = {}
    for row, _, _ in rows:
        kept.setdefault(uf.find(("row", row)), row)
    return set(kept.values())


def find_coposts(
    posts: dict[int, tuple[np.ndarray, np.ndarray]], window_s: float, names: list[str],
    uploads: dict[int, np.ndarray] | None = None,
) -> Coposts:  # fmt: skip
    """Every (pair, cluster) co-posted within the window, with the smallest gap. With `uploads`
    (per cluster, aligned with `posts`), co-posts of one pair that rest on one upload in several
    overlapping clusters count once."""
    parts_a, parts_b, parts_c, parts_g, parts_ua, parts_ub = [], [], [], [], [], []
    for cluster, (acc, t) in posts.items():
        if len(t) < 2:
            continue
        n = np.searchsorted(t, t + window_s, side="right") - np.arange(len(t)) - 1
        total = int(n.sum())
        if total == 0:
            continue
        i = np.repeat(np.arange(len(t)), n)
        j = i + 1 + np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        ai, aj = acc[i], acc[j]
        other = ai != aj
        parts_a.append(np.minimum(ai, aj)[other])
        parts_b.append(np.maximum(ai, aj)[other])
        parts_g.append((t[j] - t[i])[other])
        parts_c.append(np.full(int(other.sum()), cluster, dtype=np.int64))
        if uploads is not None:
            ui, uj = uploads[cluster][i], uploads[cluster][j]
            parts_ua.append(np.where(ai < aj, ui, uj)[other])
            parts_ub.append(np.where(ai < aj, uj, ui)[other])
    if not parts_a:
        empty = np.zeros(0, dtype=np.int64)
        return Coposts(names, empty, empty, empty, np.zeros(0))
    a, b, c, g = (np.concatenate(p) for p in (parts_a, parts_b, parts_c, parts_g))
    order = np.lexsort((g, c, b, a))
    a, b, c, g = a[order], b[order], c[order], g[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (c[1:] != c[:-1])
    if uploads is not None:
        ua, ub = (np.concatenate(p)[order] for p in (parts_ua, parts_ub))
        first &= _counted_once(a, b, ua, ub, first, uploads)
    return Coposts(names, a[first], b[first], c[first], g[first])


def _counted_once(
    a: np.ndarray, b: np.ndarray, ua: np.ndarray, ub: np.ndarray, first: np.ndarray, uploads: dict[int, np.ndarray]
) -> np.ndarray:
    """Which of the rows kept per (pair, cluster) stay once each upload counts once. Only rows
    resting on an upload that is in several clusters can share one; they are few."""
    keep = np.ones(len(a), dtype=bool)
    every = np.concatenate(list(uploads.values())) if uploads else np.zeros(0, dtype=np.int64)
    ids, counts = np.unique(every, return_counts=True)
    shared = ids[counts > 1]
    if not len(shared):
        return keep
    rows = np.flatnonzero(first & (np.isin(ua, shared) | np.isin(ub, shared)))
    by_pair: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for r in rows.tolist():
        by_pair[(int(a[r]), int(b[r]))].append((r, int(ua[r]), int(ub[r])))
    for pair_rows in by_pair.values():
        kept = once_per_upload(pair_rows)
        for r, _, _ in pair_rows:
            keep[r] = r in kept
    return keep


def account_index(events: Sequence[UploadEvent]) -> tuple[list[str], dict[str, int]]:
    names = sorted({e.account for e in events})
    return names, {name: k for k, name in enumerate(names)}


def account_links(by_cluster: dict[int, list[UploadEvent]], window_s: float) -> dict[tuple[str, str], dict[int, float]]:
    """(account, account) -> {cluster: smallest gap between their posts of it, seconds}."""
    names, index = account_index([e for evs in by_cluster.values() for e in evs])
    found = find_coposts(cluster_arrays(by_cluster, index), window_s, names, cluster_uploads(by_cluster))
    links: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for a, b, c, g in zip(found.a.tolist(), found.b.tolist(), found.cluster.tolist(), found.gap_s.tolist()):
        links[(names[a], names[b])][c] = g
    return links
