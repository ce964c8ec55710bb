"""Chance: how many co-posts ordinary posting gives two accounts, and the window it does not explain.

Pure: numpy arrays and plain values in and out.

The null model of ordinary posting keeps what each account posted (which contents, how many
times) and each content's popularity over time (its posts per UTC day), and draws the posting
times again: within a day, a post falls at a time of day drawn from the store's own time-of-day
profile (how all accounts post over 24 hours), independently of every other post. Under that model:

- Two posts of content c fall within the window w of each other with probability
  `q_c = kappa * (2r - r^2) * sum_d pi_d^2 + r^2 * sum_d pi_d * pi_(d+1)`, where `pi_d` is the
  share of c's posts on day d, `r = w / 1 day`, and `kappa = 24 * sum_h p_h^2 >= 1` grows with how
  unevenly the day is used (1 for a flat day).
- Two accounts a and b are expected to co-post `lambda_ab = sum_c n_ac * n_bc * q_c` contents
  within the window by chance (`n_ac`: a's posts of c). What they co-posted (distinct contents) is
  compared with a Poisson tail: `p = P(X >= observed | lambda_ab)`.
- Every pair that co-posted at least once within the window is a test; the false discovery rate
  over all of them is controlled with Benjamini-Hochberg (`scipy.stats.false_discovery_control`).

The co-posting window is estimated from what chance does not explain: over a grid of gaps, the
pairs of posts of one content observed within the gap minus those the null model expects. The
window is the smallest gap that holds `EXCESS_SHARE` of the largest excess. Popular content,
posted all day long, is what the null model expects and adds no excess, so it cannot stretch
the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy is imported where it is used: `scipy.stats` takes about 2 s to import, which every
# command would pay (the store modules import this one).

#: A content's popularity over time is its posts per day (seconds); posting within a day follows
#: the store's time-of-day profile. A day is much longer than any co-posting window, so a burst of
#: posts within minutes stands out against its own day.
POPULARITY_BIN_S = 86400.0
#: Posts per hour of day added to every hour before measuring the time-of-day profile: a small
#: store is treated as posting evenly over the day, a large one as it does.
TIME_OF_DAY_PRIOR_POSTS = 10.0
#: False discovery rate over all the account pairs tested (Benjamini-Hochberg), the conventional 5%.
FDR = 0.05
#: The test applies when at least this many account pairs co-posted within the window: with fewer,
#: the popularity of each content is measured on a handful of posts and the test has no power.
#: Below it, links need only the minimum of distinct contents co-posted.
MIN_PAIRS_FOR_TEST = 100
#: The estimated window holds this share of the co-posts beyond chance (pairs of posts of one
#: content, on the gap grid below).
EXCESS_SHARE = 0.8
#: Gaps tried for the window (seconds): each minute to an hour, then every 5 minutes to 6 hours.
WINDOW_GRID_S = np.array([60.0 * m for m in range(1, 61)] + [300.0 * k for k in range(13, 73)])


def time_of_day_profile(ts_s: np.ndarray, prior_posts: float = TIME_OF_DAY_PRIOR_POSTS) -> np.ndarray:
    """p_h: the share of posts in each hour of the (UTC) day, shrunk toward an even day."""
    hours = ((np.asarray(ts_s, dtype=float) % 86400.0) // 3600.0).astype(int)
    counts = np.bincount(hours, minlength=24)[:24] + prior_posts
    return counts / counts.sum()


def time_of_day_factor(ts_s: np.ndarray, prior_posts: float = TIME_OF_DAY_PRIOR_POSTS) -> float:
    """kappa = 24 * sum over hours of p_h^2: 1 when posting is even over the day, up to 24."""
    p = time_of_day_profile(ts_s, prior_posts)
    return float(24.0 * np.sum(p * p))


def _day_shares(ts_s: np.ndarray, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(sum_d n_d^2 - n_d, sum_d n_d * n_(d+1)) over a content's days: ordered post pairs on the
    same day (of different posts) and on consecutive days."""
    days, counts = np.unique(np.floor(np.asarray(ts_s) / bin_s).astype(np.int64), return_counts=True)
    counts = counts.astype(float)
    same = float(np.sum(counts * counts - counts))
    nxt = np.flatnonzero(np.diff(days) == 1)
    adjacent = float(np.sum(counts[nxt] * counts[nxt + 1]))
    return same, adjacent


def _within_same_day(gap_s: np.ndarray | float, kappa: float, bin_s: float) -> np.ndarray:
    r = np.minimum(np.asarray(gap_s, dtype=float) / bin_s, 1.0)
    return np.minimum(1.0, kappa * (2 * r - r * r))


def _within_next_day(gap_s: np.ndarray | float, bin_s: float) -> np.ndarray:
    r = np.minimum(np.asarray(gap_s, dtype=float) / bin_s, 1.0)
    return r * r / 2


def pair_within_probability(ts_s: np.ndarray, window_s: float, kappa: float, bin_s: float = POPULARITY_BIN_S) -> float:
    """q_c: the chance that two posts of this content fall within the window of each other."""
    ts_s = np.asarray(ts_s, dtype=float)
    n = len(ts_s)
    if n == 0:
        return 0.0
    days, counts = np.unique(np.floor(ts_s / bin_s).astype(np.int64), return_counts=True)
    pi = counts / n
    same = float(np.sum(pi * pi))
    nxt = np.flatnonzero(np.diff(days) == 1)
    adjacent = float(np.sum(pi[nxt] * pi[nxt + 1]))
    # Ordered pairs on consecutive days: d then d+1 and d+1 then d, each within w with r^2/2.
    return float(min(1.0, same * _within_same_day(window_s, kappa, bin_s) + 2 * adjacent * _within_next_day(window_s, bin_s)))


def expected_pairs_within(ts_s: np.ndarray, gaps_s: np.ndarray, kappa: float, bin_s: float = POPULARITY_BIN_S) -> np.ndarray:
    """Pairs of a content's posts that the null model expects within each gap."""
    same, adjacent = _day_shares(ts_s, bin_s)
    return same / 2 * _within_same_day(gaps_s, kappa, bin_s) + adjacent * _within_next_day(gaps_s, bin_s)


def observed_pairs_within(sorted_ts_s: np.ndarray, gaps_s: np.ndarray) -> np.ndarray:
    """Pairs of posts (sorted times) at most each gap apart."""
    t = np.asarray(sorted_ts_s, dtype=float)
    gaps_s = np.asarray(gaps_s, dtype=float)
    ends = np.searchsorted(t, t[np.newaxis, :] + gaps_s[:, np.newaxis], side="right")
    return (ends.sum(axis=1) - len(t) * (len(t) + 1) / 2).astype(float)


#: Excess co-posting counts only beyond this many standard deviations of chance (the square
#: root of the pairs chance gives at that gap): noise at long gaps must not stretch the window.
EXCESS_NOISE_SD = 3.0


@dataclass(frozen=True)
class WindowEstimate:
    window_s: float | None  # None: no co-posting beyond chance to estimate from
    excess_pairs: float  # pairs of posts co-posted beyond chance (at the gap where it stands out most)
    clusters: int  # contents with re-posts that the estimate used


def estimate_window(
    times_by_cluster: list[np.ndarray], kappa: float, share: float = EXCESS_SHARE, grid_s: np.ndarray = WINDOW_GRID_S
) -> WindowEstimate:
    """The smallest gap on the grid that holds `share` of the co-posting beyond chance.

    The excess at a gap is the pairs of posts of one content observed within it minus those the
    null model expects. The largest excess is taken at the gap where it stands out most net of
    `EXCESS_NOISE_SD` standard deviations of chance, so that the noise of the many pairs chance
    gives at long gaps does not set it; none standing out: no estimate.
    """
    observed = np.zeros(len(grid_s))
    expected = np.zeros(len(grid_s))
    used = 0
    for ts in times_by_cluster:
        if len(ts) < 2:
            continue
        used += 1
        ts = np.sort(np.asarray(ts, dtype=float))
        observed += observed_pairs_within(ts, grid_s)
        expected += expected_pairs_within(ts, grid_s, kappa)
    excess = observed - expected
    sure = excess - EXCESS_NOISE_SD * np.sqrt(expected + 1)
    if len(sure) == 0 or sure.max() <= 0:
        return WindowEstimate(None, 0.0, used)
    best = float(excess[int(np.argmax(sure))])
    first = int(np.flatnonzero(excess >= share * best)[0])
    return WindowEstimate(float(grid_s[first]), best, used)


class NullModel:
    """Expected chance co-posts within the window for pairs of accounts (indices 0..n-1), and the
    chance that a post falls within given stretches of time."""

    def __init__(self, posts: dict[int, tuple[np.ndarray, np.ndarray]], n_accounts: int, window_s: float, hour_share: np.ndarray):
        """`posts`: per content, (account indices, posting times in seconds) of its posts;
        `hour_share`: the time-of-day profile (`time_of_day_profile`)."""
        self.window_s = window_s
        self.hour_density = 24.0 * np.asarray(hour_share)  # 1 on average over the day
        self.kappa = kappa = float(np.sum(np.asarray(hour_share) * self.hour_density))
        from scipy import sparse

        columns = sorted(posts)
        self.q = np.array([pair_within_probability(posts[c][1], window_s, kappa) for c in columns])
        rows = np.concatenate([posts[c][0] for c in columns]) if columns else np.zeros(0, dtype=np.int64)
        cols = np.concatenate([np.full(len(posts[c][0]), k) for k, c in enumerate(columns)]) if columns else np.zeros(0, dtype=np.int64)
        # Duplicates (an account posting a content twice) are summed into its count.
        self.counts = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(n_accounts, len(columns))
        )

    def within_probability(self, posts_ts_s: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray) -> float:
        """The chance that one post of a content falls in the given disjoint stretches of time: the
        content's share of posts that day (from `posts_ts_s`, its posts to measure popularity on),
        spread over the day by the time-of-day profile."""
        posts_ts_s = np.asarray(posts_ts_s, dtype=float)
        if len(posts_ts_s) == 0:
            return 1.0
        days, counts = np.unique(np.floor(posts_ts_s / POPULARITY_BIN_S).astype(np.int64), return_counts=True)
        shares = dict(zip(days.tolist(), (counts / len(posts_ts_s)).tolist()))
        total = 0.0
        for start, end in zip(np.asarray(starts_s).tolist(), np.asarray(ends_s).tolist()):
            mid = (start + end) / 2
            day_share = shares.get(int(mid // POPULARITY_BIN_S), 0.0)
            total += day_share * self.hour_density[int((mid % 86400.0) // 3600.0)] * (end - start) / POPULARITY_BIN_S
        return min(1.0, total)

    def expected(self, a: np.ndarray, b: np.ndarray, chunk: int = 200_000) -> np.ndarray:
        """lambda for each pair (a[i], b[i])."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        out = np.empty(len(a))
        weighted = self.counts.multiply(self.q[np.newaxis, :]).tocsr() if len(self.q) else self.counts
        for start in range(0, len(a), chunk):
            sl = slice(start, start + chunk)
            out[sl] = np.asarray(weighted[a[sl]].multiply(self.counts[b[sl]]).sum(axis=1)).ravel()
        return out


def copost_pvalues(observed: np.ndarray, expected: np.ndarray, given_at_least: int = 0) -> np.ndarray:
    """P(X >= observed | X >= given_at_least) for X Poisson with the expected chance co-posts.

    Pairs are tested because they co-posted at least once: conditioning on it keeps the p-values
    of the pairs selected that way uniform under chance (without it, the millions of pairs that
    co-posted nothing would be left out of the count of tests, and chance pairs kept).
    """
    from scipy import stats

    observed = np.asarray(observed, dtype=float)
    expected = np.maximum(np.asarray(expected, dtype=float), 1e-300)
    tail = stats.poisson.logsf(observed - 1, expected)
    if given_at_least > 0:
        tail = tail - stats.poisson.logsf(given_at_least - 1, expected)
    return np.minimum(1.0, np.exp(tail))


def fdr_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values over all the tests given."""
    from scipy import stats

    p_values = np.asarray(p_values, dtype=float)
    if len(p_values) == 0:
        return p_values
    return stats.false_discovery_control(p_values, method="bh")
