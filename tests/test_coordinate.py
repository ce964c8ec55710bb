"""Pure coordination analysis: clusters from matches, co-posting groups, amplifiers."""

from __future__ import annotations

import datetime as dt

import numpy as np

from vidtrace import chance
from vidtrace import coordinate as co

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


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
        [1, 2, 3, 4, 5],
        [co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 4, 0.9), co.MatchEdge(3, 5, 1.0), co.MatchEdge(1, 5, 1.0)],
    )
    assert co.cluster_changes(grown, merged) == ([], [(3, 1)])
    with_new = co.build_clusters([1, 2, 3, 4, 9], [co.MatchEdge(1, 2, 1.0), co.MatchEdge(2, 4, 0.9)])
    assert co.cluster_changes(grown, with_new) == ([9], [])


def _scenario():
    """Five network accounts post variants of three contents within 20 minutes, three times;
    organic accounts re-post weeks later; one organic account once posts within the hour of a
    burst (a coincidence); noise accounts post unrelated videos, two of them once together."""
    clusters = co.build_clusters(
        range(1, 20), [co.MatchEdge(1, 2, 1.0), co.MatchEdge(3, 4, 1.0), co.MatchEdge(5, 6, 1.0)]
    )
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


# --- chance -------------------------------------------------------------------------------------


def test_the_chance_of_two_posts_within_the_window_matches_posts_drawn_by_the_null_model():
    rng = np.random.default_rng(3)
    day = chance.POPULARITY_BIN_S
    # A content posted on 4 days (40%, 30%, 20%, 10% of its posts; two of the days consecutive).
    shares = {10: 0.4, 11: 0.3, 15: 0.2, 30: 0.1}
    posts = np.concatenate([d * day + rng.uniform(0, day, int(1000 * s)) for d, s in shares.items()])
    for window_s in (600.0, 3600.0, 4 * 3600.0):
        q = chance.pair_within_probability(posts, window_s, chance.TimeOfDay(np.zeros(0)))
        days = rng.choice(list(shares), size=(200_000, 2), p=list(shares.values()))
        times = days * day + rng.uniform(0, day, size=days.shape)
        simulated = np.mean(np.abs(times[:, 0] - times[:, 1]) <= window_s)
        assert abs(q - simulated) < 0.1 * simulated + 0.001, (window_s, q, simulated)


def test_posting_at_one_hour_of_the_day_raises_the_chance_of_co_posts():
    even = np.arange(0, 86400 * 10, 900.0)
    evening = np.array([d * 86400 + 20 * 3600 + m * 60 for d in range(10) for m in range(48)], dtype=float)
    assert abs(chance.TimeOfDay(even).kappa - 1.0) < 1e-9
    assert abs(chance.TimeOfDay(even).same_day(3600.0) - (2 / 24 - 1 / 24**2)) < 1e-3
    assert chance.TimeOfDay(evening).kappa > 5
    assert chance.TimeOfDay(evening).same_day(3600.0) > 5 * chance.TimeOfDay(even).same_day(3600.0)
    assert chance.TimeOfDay(evening[:3]).kappa < 1.3  # a handful of posts says little about the day


def test_p_values_are_poisson_tails_given_one_co_post_and_fdr_uses_benjamini_hochberg():
    from scipy import stats

    p = chance.copost_pvalues(np.array([1, 2, 5]), np.array([0.1, 0.1, 0.1]), given_at_least=1)
    assert p[0] == 1.0
    assert abs(p[1] - stats.poisson.sf(1, 0.1) / stats.poisson.sf(0, 0.1)) < 1e-12
    assert p[2] < 1e-4
    assert list(chance.fdr_adjusted(np.array([0.01, 0.04, 0.03, 0.5]))) == list(
        stats.false_discovery_control([0.01, 0.04, 0.03, 0.5], method="bh")
    )


def test_poisson_tails_and_fdr_agree_with_scipy_stats_over_wide_ranges():
    # computed without importing scipy.stats (1 to 2 s a command); scipy.stats is the oracle here
    from scipy import stats

    rng = np.random.default_rng(3)
    observed = rng.integers(0, 60, 2000).astype(float)
    expected = np.exp(rng.uniform(np.log(1e-6), np.log(50.0), 2000))
    for given in (0, 1, 2):
        mine = chance.copost_pvalues(observed, expected, given_at_least=given)
        tail = stats.poisson.logsf(observed - 1, expected)
        if given:
            tail = tail - stats.poisson.logsf(given - 1, expected)
        assert np.allclose(mine, np.minimum(1.0, np.exp(tail)), rtol=1e-9, atol=1e-300)
    for p in (rng.uniform(0, 1, 500), rng.uniform(0, 1e-3, 50), np.array([0.2, 0.2, 0.2, 0.01]), np.array([0.7])):
        assert np.allclose(chance.fdr_adjusted(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12)


def _network_scale(seed: int = 5, viral: bool = True):
    """600 ordinary accounts post 3 to 12 of 80 contents (Zipf popularity) over 60 days at times
    drawn independently; a group of 8 bursts within 20 minutes on 5 contents (one member joins
    only two bursts); 25 strangers re-post one content within 2 hours (a viral burst)."""
    rng = np.random.default_rng(seed)
    n_contents, days = 80, 60
    clusters = co.build_clusters(range(1, n_contents + 1), [])
    popularity = 1 / np.arange(1, n_contents + 1)
    popularity /= popularity.sum()
    release = rng.uniform(0, 40, n_contents)
    events, uid = [], iter(range(1, 10**7))

    def post(account, content, minutes):
        events.append(co.UploadEvent(next(uid), int(content) + 1, account, at(float(minutes))))

    ordinary = [f"user{i:03d}" for i in range(600)]
    for account in ordinary:
        k = int(rng.integers(3, 13))
        for c in rng.choice(n_contents, k, replace=False, p=popularity):
            day = min(days - 1, release[c] + rng.exponential(7))
            post(account, c, day * 1440 + rng.uniform(0, 1440))
    group = [f"op{i}" for i in range(8)]
    for n, c in enumerate(rng.choice(n_contents, 5, replace=False)):
        start = rng.uniform(0, days - 1) * 1440
        for account in group:
            if account != "op7" or n < 2:
                post(account, c, start + rng.uniform(0, 20))
    strangers = list(rng.choice(ordinary, 25, replace=False))
    start = rng.uniform(0, days - 1) * 1440
    content = int(rng.integers(n_contents))
    for account in strangers if viral else []:
        post(account, content, start + rng.uniform(0, 120))
    return clusters, events, group, set(ordinary)


def test_at_scale_chance_co_posts_of_popular_content_are_not_coordination_and_the_group_is():
    clusters, events, group, ordinary = _network_scale()
    links = co.account_links(co.cluster_events(events, clusters), 1800)
    by_chance = {a for pair, found in links.items() if len(found) >= 2 for a in pair} & ordinary
    assert len(by_chance) >= 6  # what the minimum of two contents alone would flag
    result = co.coordinate(events, clusters, window_s=1800)
    assert result.link_test.applied and result.link_test.pairs_tested >= chance.MIN_PAIRS_FOR_TEST
    assert [g.accounts for g in result.groups] == [tuple(group)]
    (g,) = result.groups
    assert g.observed_coposts > 20 * g.expected_coposts and g.chance_p < 1e-6


def test_the_window_estimate_is_not_stretched_by_popular_content():
    clusters, events, group, _ = _network_scale(viral=False)
    window, source = co.estimate_window_s(events, clusters)
    assert "estimated" in source
    assert 5 * 60 <= window <= 20 * 60, window  # the group's bursts last 20 minutes
    # A viral burst of strangers over 2 hours is beyond chance too, but one content among many.
    clusters, events, group, _ = _network_scale(viral=True)
    assert 5 * 60 <= co.estimate_window_s(events, clusters)[0] <= 20 * 60
    # Ordinary posting alone, popular content included: nothing beyond chance to estimate from.
    plain = [e for e in _network_scale(viral=False)[1] if e.account not in group]
    window, source = co.estimate_window_s(plain, clusters)
    assert window == co.FALLBACK_WINDOW_S and "no co-posting beyond chance" in source


def test_small_cases_use_the_minimum_of_contents_alone_and_say_so():
    clusters, events, _ = _scenario()
    result = co.coordinate(events, clusters, window_s=3600)
    assert not result.link_test.applied and "no chance test" in result.link_test.rule
    (g,) = result.groups
    assert g.observed_coposts == 30 and 0 < g.expected_coposts < 3
