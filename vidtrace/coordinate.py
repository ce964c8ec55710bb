"""Coordination: content clusters from matches, and accounts that post the same content together.

Pure: plain values in and out. Clusters are made in `vidtrace.clustering`, co-posts and the
window found in `vidtrace.coposts`; the groups, amplifiers and first posters here.

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
  coordination (viral clips are re-posted by strangers within the hour): a link needs a weight of
  at least `min_shared_clusters`. At scale, chance alone gives many such links (popular content
  is posted by thousands of accounts), so each pair's co-posts are also compared with what a null
  model of ordinary posting expects (`vidtrace.chance`), and a link is kept only when that is
  unlikely by chance, with the false discovery rate controlled over every pair tested. The test
  applies once at least `chance.MIN_PAIRS_FOR_TEST` pairs co-posted within the window; on fewer,
  the minimum weight alone decides.
- Groups. Connected components of the links kept, with at least `min_accounts` accounts. When
  the test applies, an account also joins a group whose posts its own posts follow within the
  window on more contents than chance gives (`_join_groups`): a member of a large group who
  joined only a few of its bursts. Groups are ranked by a score (see `group_score`), each with
  the co-posts its accounts share and those chance would give them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from statistics import median, pstdev

import numpy as np

from vidtrace import chance

# Clusters and co-posts have modules of their own; their names (and the result types) are offered
# here too.
# ruff: noqa: F401
from vidtrace.clustering import (
    COPY,
    SAME_CONTENT_MIN_SCORE,
    WHOLE_COPY_LENGTH_SHARE,
    WHOLE_COPY_MIN_SCORE,
    WHOLE_COPY_SLACK_S,
    UnionFind,
    build_clusters,
    cluster_changes,
    related_clusters,
    same_time_line,
)
from vidtrace.coposts import (
    FALLBACK_WINDOW_S,
    MIN_CLUSTERS_FOR_ESTIMATE,
    WINDOW_RANGE_S,
    Coposts,
    account_index,
    account_links,
    cluster_arrays,
    cluster_uploads,
    estimate_window_s,
    find_coposts,
    once_per_upload,
)
from vidtrace.results.clusters import (
    Amplifier,
    Cluster,
    Coordination,
    Evidence,
    Group,
    LinkTest,
    MatchEdge,
    Relation,
    UploadEvent,
    cluster_events,
    clusters_by_video,
)

#: Accounts must co-post at least this many distinct clusters to be linked.
MIN_SHARED_CLUSTERS = 2
#: Groups need at least this many accounts.
MIN_ACCOUNTS = 3
#: An account trailing the same source by lags whose spread is below this share of their mean,
#: over at least two clusters, is flagged as an amplifier.
AMPLIFIER_MAX_LAG_SPREAD = 0.5


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


def group_score(
    shared_clusters: int, median_gap_s: float, window_s: float, coordinated_share: float, accounts: int
) -> float:
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
    fdr: float = chance.FDR,
) -> list[Group]:
    """Groups of accounts that repeatedly post the same contents within `window_s`, best first."""
    return coordinate(events, clusters, window_s, min_accounts, min_shared_clusters, fdr).groups


def _null_model(posts: dict[int, tuple[np.ndarray, np.ndarray]], n_accounts: int, window_s: float) -> chance.NullModel:
    all_times = np.concatenate([t for _, t in posts.values()]) if posts else np.zeros(0)
    return chance.NullModel(posts, n_accounts, window_s, chance.TimeOfDay(all_times))


def _test_links(
    found: Coposts, model: chance.NullModel, min_shared_clusters: int, fdr: float
) -> tuple[np.ndarray, LinkTest, dict]:
    """Per pair (a, b) that co-posted: kept or not, and the rule applied; also pair -> (observed, expected)."""
    starts = (
        np.flatnonzero(np.r_[True, (found.a[1:] != found.a[:-1]) | (found.b[1:] != found.b[:-1])])
        if len(found.a)
        else np.zeros(0, dtype=np.int64)
    )
    observed = np.diff(np.r_[starts, len(found.a)])
    pa, pb = found.a[starts], found.b[starts]
    expected = model.expected(pa, pb)
    floor = observed >= min_shared_clusters
    applied = len(starts) >= chance.MIN_PAIRS_FOR_TEST
    if applied:
        adjusted = chance.fdr_adjusted(chance.copost_pvalues(observed, expected, given_at_least=1))
        keep = floor & (adjusted <= fdr)
        rule = (
            f"co-posts beyond chance at a false discovery rate of {fdr:g} over {len(starts)} account pairs tested "
            f"(Poisson tail given one co-post, Benjamini-Hochberg), and at least {min_shared_clusters} distinct clusters"
        )
    else:
        keep = floor
        rule = (
            f"at least {min_shared_clusters} distinct clusters; no chance test on {len(starts)} account pair(s) "
            f"({chance.MIN_PAIRS_FOR_TEST} needed)"
        )
    test = LinkTest(len(starts), int(keep.sum()), applied, fdr, rule)
    return keep, test, {"starts": starts, "observed": observed, "expected": expected}


def _components(strong: dict[tuple[str, str], dict[int, float]]) -> dict[str, list[str]]:
    accounts_uf = UnionFind()
    for a, b in strong:
        accounts_uf.union(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for a in list(accounts_uf.parent):
        members[accounts_uf.find(a)].append(a)
    return members


def _join_groups(
    cores: list[list[str]],
    strong: dict[tuple[str, str], dict[int, float]],
    posts: dict[int, tuple[np.ndarray, np.ndarray]],
    index: dict[str, int],
    model: chance.NullModel,
    min_shared_clusters: int,
    fdr: float,
) -> tuple[list[tuple[int, int]], int]:
    """Accounts whose posts fall within the window of a group's posts, on contents the group
    co-posted, more often than chance gives: (account index, core number); and the pairs tested.

    A member who joined only two or three of a group's bursts shares too little with any one
    other member to pass the pair test, but much with the group as a whole. The chance that an
    account's post of a content falls within the window of the group's posts of it is the null
    model's share of that content's posts in those stretches of time, its popularity measured
    without the group's own posts; the count of contents is
    compared with a Poisson tail given one, and the false discovery rate is controlled over every
    (account, group) pair that co-posted once or more.
    """
    w = model.window_s
    rows_acc, rows_core, rows_cluster, rows_prob, rows_inside = [], [], [], [], []
    for k, core in enumerate(cores):
        members = set(core)
        member_ids = np.array(sorted(index[a] for a in core), dtype=np.int64)
        shared = sorted({c for p, f in strong.items() if p[0] in members for c in f})
        for c in shared:
            acc, t = posts[c]
            member = np.isin(acc, member_ids)
            mt = np.sort(t[member])
            starts, ends = mt - w, mt + w
            # Merge overlapping stretches.
            breaks = np.flatnonzero(starts[1:] > np.maximum.accumulate(ends)[:-1]) + 1
            lo = np.r_[0, breaks]
            hi = np.r_[breaks, len(starts)] - 1
            starts, ends = starts[lo], np.maximum.accumulate(ends)[hi]
            # The group's own posts are what is tested: the content's popularity is measured without them.
            prob = model.within_probability(t[~member], starts, ends)
            others = ~member
            pos = np.searchsorted(starts, t[others], side="right") - 1
            inside = (pos >= 0) & (t[others] <= ends[np.maximum(pos, 0)])
            rows_acc.append(acc[others])
            rows_core.append(np.full(int(others.sum()), k, dtype=np.int64))
            rows_cluster.append(np.full(int(others.sum()), c, dtype=np.int64))
            rows_prob.append(np.full(int(others.sum()), prob))
            rows_inside.append(inside)
    if not rows_acc:
        return [], 0
    row_acc, row_core, cluster, row_prob, inside = (
        np.concatenate(r) for r in (rows_acc, rows_core, rows_cluster, rows_prob, rows_inside)
    )
    key = row_acc * len(cores) + row_core
    keys, where = np.unique(key, return_inverse=True)
    expected = np.bincount(where, weights=row_prob, minlength=len(keys))
    hit_keys = (
        np.unique(np.stack([where[inside], cluster[inside]]), axis=1)[0]
        if inside.any()
        else np.zeros(0, dtype=np.int64)
    )
    observed = np.bincount(hit_keys, minlength=len(keys))
    tested = observed >= 1
    p = chance.copost_pvalues(observed[tested], expected[tested], given_at_least=1)
    adjusted = chance.fdr_adjusted(p)
    ok = (adjusted <= fdr) & (observed[tested] >= min_shared_clusters)
    joined = keys[tested][ok]
    return [(int(x // len(cores)), int(x % len(cores))) for x in joined], int(tested.sum())


def coordinate(
    events: Sequence[UploadEvent],
    clusters: Sequence[Cluster],
    window_s: float,
    min_accounts: int = MIN_ACCOUNTS,
    min_shared_clusters: int = MIN_SHARED_CLUSTERS,
    fdr: float = chance.FDR,
) -> Coordination:
    """Groups of accounts that repeatedly post the same contents within `window_s` more often than
    chance gives, best first; with how their links were tested."""
    by_cluster = cluster_events(events, clusters)
    names, index = account_index(events)
    posts = cluster_arrays(by_cluster, index)
    found = find_coposts(posts, window_s, names, cluster_uploads(by_cluster))
    model = _null_model(posts, len(names), window_s)
    keep, test, per_pair = _test_links(found, model, min_shared_clusters, fdr)
    starts, observed = per_pair["starts"], per_pair["observed"]
    ends = np.r_[starts[1:], len(found.a)] if len(starts) else starts
    strong: dict[tuple[str, str], dict[int, float]] = {}
    for k in np.flatnonzero(keep).tolist():
        lo, hi = int(starts[k]), int(ends[k])
        pair = (names[int(found.a[lo])], names[int(found.b[lo])])
        strong[pair] = dict(zip(found.cluster[lo:hi].tolist(), found.gap_s[lo:hi].tolist()))
    pair_keys = found.a[starts] * max(1, len(names)) + found.b[starts]  # sorted: rows are sorted by (a, b)
    members = _components(strong)
    if test.applied:
        cores = [sorted(m) for m in members.values() if len(m) >= min_accounts]
        joined, tested = _join_groups(cores, strong, posts, index, model, min_shared_clusters, fdr)
        keys = found.a * max(1, len(names)) + found.b
        for x, k in joined:
            for g in cores[k]:
                a, b = sorted((x, index[g]))
                lo, hi = (
                    int(np.searchsorted(keys, a * len(names) + b, side="left")),
                    int(np.searchsorted(keys, a * len(names) + b, side="right")),
                )
                if hi > lo:
                    strong[(names[a], names[b])] = dict(zip(found.cluster[lo:hi].tolist(), found.gap_s[lo:hi].tolist()))
        test = LinkTest(
            test.pairs_tested, len(strong), True, fdr,
            test.rule + f"; accounts joined to a group by their co-posts with it as a whole (the same test over {tested} "
            f"account-group pairs)",
            accounts_joined=len({x for x, _ in joined}), joins_tested=tested,
        )  # fmt: skip
        members = _components(strong)

    uploads_per_account: dict[str, set[int]] = defaultdict(set)
    for e in events:
        uploads_per_account[e.account].add(e.upload_id)

    linked_to: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in strong:
        linked_to[pair[0]].append(pair)

    groups = []
    for accounts in members.values():
        if len(accounts) < min_accounts:
            continue
        accounts = sorted(accounts)
        pairs = {p: strong[p] for a in accounts for p in linked_to[a]}
        shared = sorted({c for found_c in pairs.values() for c in found_c})
        gaps = [g for found_c in pairs.values() for g in found_c.values()]
        evidence = []
        coordinated_uploads: set[int] = set()
        for c in shared:
            linked = {a for p, found_c in pairs.items() if c in found_c for a in p}
            for burst in _bursts([e for e in by_cluster[c] if e.account in linked], window_s):
                coordinated_uploads |= {e.upload_id for e in burst}
                span = (burst[-1].uploaded_at - burst[0].uploaded_at).total_seconds()
                evidence.append(Evidence(cluster=c, uploads=tuple(burst), span_s=span))
        total = set().union(*(uploads_per_account[a] for a in accounts))
        share = len(coordinated_uploads) / len(total) if total else 0.0
        med = median(gaps) if gaps else 0.0
        ids = [index[a] for a in accounts]
        ia = np.array([x for n, x in enumerate(ids) for _ in ids[n + 1 :]], dtype=np.int64)
        ib = np.array([y for n, _ in enumerate(ids) for y in ids[n + 1 :]], dtype=np.int64)
        wanted = ia * max(1, len(names)) + ib
        at = np.minimum(np.searchsorted(pair_keys, wanted), max(0, len(pair_keys) - 1))
        obs = int(observed[at][pair_keys[at] == wanted].sum()) if len(pair_keys) else 0
        expected = float(model.expected(ia, ib).sum())
        groups.append(
            Group(
                accounts=tuple(accounts),
                score=group_score(len(shared), med, window_s, share, len(accounts)),
                clusters=tuple(shared),
                evidence=tuple(evidence),
                median_gap_s=round(med, 1),
                coordinated_share=round(share, 3),
                observed_coposts=int(obs),
                expected_coposts=round(expected, 3),
                chance_p=float(f"{float(chance.copost_pvalues(np.array([obs]), np.array([expected]))[0]):.3g}"),
            )
        )
    groups.sort(key=lambda g: (-g.score, g.accounts))
    return Coordination(groups, test)


def amplifiers(events: Sequence[UploadEvent], clusters: Sequence[Cluster], min_clusters: int = 2) -> list[Amplifier]:
    """Accounts that trail the same first poster ("patient zero") by a steady lag across clusters,
    with distinct uploads of their own in at least `min_clusters` of them."""
    by_cluster = cluster_events(events, clusters)
    lags: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    witnesses: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for c, evs in sorted(by_cluster.items()):
        if len(evs) < 2:
            continue
        zero = evs[0]
        for e in evs[1:]:
            if e.account != zero.account and c not in lags[(e.account, zero.account)]:
                lags[(e.account, zero.account)][c] = (e.uploaded_at - zero.uploaded_at).total_seconds()
                witnesses[(e.account, zero.account)].append((c, e.upload_id, zero.upload_id))
    found = []
    for (account, source), per_cluster in lags.items():
        # Repeated, distinct uploads: one upload in overlapping clusters (a compilation) is one
        # trailing post, and an account with a single upload is never an amplifier.
        once = once_per_upload(witnesses[(account, source)])
        per_cluster = {c: lag for c, lag in per_cluster.items() if c in once}
        if len(per_cluster) < min_clusters:
            continue
        values = list(per_cluster.values())
        mean = sum(values) / len(values)
        spread = pstdev(values)
        if mean > 0 and spread <= AMPLIFIER_MAX_LAG_SPREAD * mean:
            found.append(Amplifier(account, source, tuple(sorted(per_cluster)), round(mean, 1), round(spread, 1)))
    found.sort(key=lambda a: (a.source, a.mean_lag_s, a.account))
    return found


def patient_zero(
    events: Sequence[UploadEvent], clusters: Sequence[Cluster]
) -> dict[int, tuple[UploadEvent, list[tuple[UploadEvent, float]]]]:
    """Per cluster: the first known upload, and each later upload with its lag behind it (seconds)."""
    out = {}
    for c, evs in cluster_events(events, clusters).items():
        zero = evs[0]
        out[c] = (zero, [(e, (e.uploaded_at - zero.uploaded_at).total_seconds()) for e in evs[1:]])
    return out
