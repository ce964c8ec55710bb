"""Pure coordination analysis: clusters from matches, co-posting groups, amplifiers."""

from __future__ import annotations

import datetime as dt

from vidtrace import coordinate as co

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_full_matches_merge_and_a_compilation_joins_both_sources_without_merging_them():
    # 1-2-3 are copies of A, 4-5 copies of B, 6 is a compilation of A and B, 7 unrelated.
    edges = [
        co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 3, 0.95), co.MatchEdge(4, 5, 0.9),
        co.MatchEdge(1, 6, 0.4), co.MatchEdge(4, 6, 0.5), co.MatchEdge(3, 6, 0.4),
    ]  # fmt: skip
    clusters = {c.id: c for c in co.build_clusters(range(1, 8), edges)}
    assert clusters[1].core == (1, 2, 3) and clusters[1].partial == (6,)
    assert clusters[4].core == (4, 5) and clusters[4].partial == (6,)
    assert clusters[6].core == (6,) and clusters[6].partial == ()
    assert clusters[7].core == (7,)
    assert sorted(co.clusters_by_video(list(clusters.values()))[6]) == [1, 4, 6]


def test_cluster_ids_are_stable_as_clusters_grow_and_merges_are_reported():
    before = co.build_clusters([1, 2, 3], [co.MatchEdge(1, 2, 1.0)])
    grown = co.build_clusters([1, 2, 3, 4], [co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 4, 0.9)])
    assert {c.id for c in grown} == {1, 3}
    assert co.cluster_changes(before, grown) == ([], [])
    merged = co.build_clusters(
        [1, 2, 3, 4, 5], [co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 4, 0.9), co.MatchEdge(3, 5, 1.0), co.MatchEdge(1, 5, 1.0)]
    )
    assert co.cluster_changes(grown, merged) == ([], [(3, 1)])
    with_new = co.build_clusters([1, 2, 3, 4, 9], [co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 4, 0.9)])
    assert co.cluster_changes(grown, with_new) == ([9], [])


def _scenario():
    """Five network accounts post variants of three contents within 20 minutes, three times;
    organic accounts re-post weeks later; one organic account once posts within the hour of a
    burst (a coincidence); noise accounts post unrelated videos, two of them once together."""
    clusters = co.build_clusters(range(1, 20), [co.MatchEdge(1, 2, 1.0), co.MatchEdge(3, 4, 1.0), co.MatchEdge(5, 6, 1.0)])
    events = []
    uid = iter(range(1, 1000))
    network = [f"net{i}" for i in range(1, 6)]
    for day, (video, variant) in enumerate([(1, 2), (3, 4), (5, 6)]):
        for i, account in enumerate(network):
            events.append(co.UploadEvent(next(uid), variant if i % 2 else video, account, at(day * 1440 * 3 + i * 4)))
    events.append(co.UploadEvent(next(uid), 1, "viral_fan", at(30)))  # within the hour of the first burst, once
    events.append(co.UploadEvent(next(uid), 1, "organic1", at(20 * 1440)))
    events.append(co.UploadEvent(next(uid), 3, "organic1", at(40 * 1440)))
    events.append(co.UploadEvent(next(uid), 2, "organic2", at(35 * 1440)))
    events.append(co.UploadEvent(next(uid), 5, "organic2", at(50 * 1440)))
    events.append(co.UploadEvent(next(uid), 10, "noise1", at(100)))
    events.append(co.UploadEvent(next(uid), 10, "noise2", at(105)))
    events.append(co.UploadEvent(next(uid), 11, "noise3", at(5000)))
    return clusters, events, network


def test_the_network_is_one_group_and_no_organic_or_noise_account_is_flagged():
    clusters, events, network = _scenario()
    groups = co.find_groups(events, clusters, window_s=3600)
    assert [g.accounts for g in groups] == [tuple(network)]
    (group,) = groups
    assert group.clusters == (1, 3, 5)
    assert group.coordinated_share == 1.0
    assert all(ev.span_s <= 20 * 60 for ev in group.evidence)
    assert {e.account for ev in group.evidence for e in ev.uploads} == set(network)


def test_single_coincidences_do_not_link_accounts():
    clusters, events, _ = _scenario()
    groups = co.find_groups(events, clusters, window_s=3600, min_accounts=2)
    flagged = {a for g in groups for a in g.accounts}
    assert flagged.isdisjoint({"viral_fan", "noise1", "noise2", "organic1", "organic2"})


def test_a_window_too_small_finds_nothing_and_the_score_rewards_tight_timing():
    clusters, events, _ = _scenario()
    assert co.find_groups(events, clusters, window_s=60) == []
    assert co.group_score(3, 60, 3600, 1.0, 5) > co.group_score(3, 3000, 3600, 1.0, 5)
    assert co.group_score(3, 60, 3600, 1.0, 5) > co.group_score(2, 60, 3600, 1.0, 5)


def test_window_estimate_falls_back_without_enough_reposts_and_uses_the_delays_otherwise():
    clusters, events, _ = _scenario()
    window, source = co.estimate_window_s(events, clusters)
    assert window == co.FALLBACK_WINDOW_S and "fallback" in source
    many = co.build_clusters(range(1, 41), [])
    reposts = []
    for v in range(1, 41):
        reposts.append(co.UploadEvent(v * 10, v, "a", at(v * 1000)))
        reposts += [co.UploadEvent(v * 10 + k, v, f"b{k}", at(v * 1000 + 10 * k)) for k in range(1, 6)]
    window, source = co.estimate_window_s(reposts, many)
    assert "estimated" in source
    assert co.WINDOW_RANGE_S[0] <= window <= 30 * 60


def test_amplifiers_trail_the_same_source_by_a_steady_lag():
    clusters = co.build_clusters(range(1, 5), [])
    events = []
    for n, video in enumerate(range(1, 5)):
        start = n * 10_000
        events.append(co.UploadEvent(n * 10 + 1, video, "source", at(start)))
        events.append(co.UploadEvent(n * 10 + 2, video, "bot", at(start + 30 + (n % 2))))
        events.append(co.UploadEvent(n * 10 + 3, video, "human", at(start + [5, 300, 2000, 40][n])))
    found = co.amplifiers(events, clusters)
    assert [(a.account, a.source) for a in found] == [("bot", "source")]
    assert abs(found[0].mean_lag_s - 30.5 * 60) < 60
