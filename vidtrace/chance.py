"""Chance: how many co-posts ordinary posting gives two accounts, and the window it does not explain.

Pure: numpy arrays and plain values in and out.

The null model of ordinary posting keeps what each account posted (which contents, how many
times) and each content's popularity over time (its posts per UTC day), and draws the posting
times again: within a day, a post falls at a time of day drawn from the store's own time-of-day
profile (how all accounts post over 24 hours), independently of every other post. Under that model:

- Two posts of content c fall within the window w of each other with probability
  `q_c = sum_d pi_d^2 * S(w) + 2 * sum_d pi_d * pi_(d+1) * N(w)`, where `pi_d` is the share of
  c's posts on day d, and S(w) and N(w) are the chances that two posts drawn from the time-of-day
  profile fall within w on the same day and across midnight on consecutive days (`TimeOfDay`;
  for an even day S(w) = 2r - r^2 and N(w) = r^2 / 2, r = w / 1 day).
- Two accounts a and b are expected to co-post `lambda_ab = sum_c n_ac * n_bc * q_c` contents
  within the window by chance (`n_ac`: a's posts of c). What they co-posted (distinct contents)
  is compared with a Poisson tail given that they co-posted once:
  `p = P(X >= observed | X >= 1, lambda_ab)`.
- Every pair that co-posted at least once within the window is a test; the false discovery rate
  over all of them is controlled with Benjamini-Hochberg (`fdr_adjusted`, as
  `scipy.stats.false_discovery_control`).

The co-posting window is estimated from what chance does not explain: over a grid of gaps, the
pairs of posts of one content observed within the gap minus those the null model expects, each
content weighted by 1 / (its posts - 1) (`estimate_window`). Popular content, posted all day
long, is what the null model expects and, weighted per post, cannot stretch the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy is imported where it is used, and never `scipy.stats`: it takes 1 to 2 s to import, which
# every lookup with matches would pay for one Poisson tail (the store modules import this one;
# `scipy.special` comes with the hashing anyway).

#: A content's popularity over time is its posts per day (seconds); posting within a day follows
#: the store's time-of-day profile. A day is much longer than any co-posting window, so a burst of
#: posts within minutes stands out against its own day.
POPULARITY_BIN_S = 86400.0
#: Posts per hour of day added to every hour before measuring the time-of-day profile: a small
#: store is treated as posting evenly over the day, a large one as it does.
TIME_OF_DAY_PRIOR_POSTS = 10.0
#: The time-of-day profile is measured per quarter hour (seconds).
TIME_OF_DAY_BIN_S = 900.0
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


class TimeOfDay:
    """When in the (UTC) day posts fall: the share of posts per quarter hour, shrunk toward an even
    day, spread evenly within each quarter hour. Gives the chance that two posts drawn from it
    fall within a gap of each other on the same day or on consecutive days."""

    def __init__(self, ts_s: np.ndarray, prior_posts_per_hour: float = TIME_OF_DAY_PRIOR_POSTS):
        bins = ((np.asarray(ts_s, dtype=float) % 86400.0) // TIME_OF_DAY_BIN_S).astype(int)
        n_bins = int(86400 / TIME_OF_DAY_BIN_S)
        counts = np.bincount(bins, minlength=n_bins)[:n_bins] + prior_posts_per_hour * TIME_OF_DAY_BIN_S / 3600.0
        self.share = counts / counts.sum()
        #: 24 * the mean density: 1 when posting is even over the day; the factor by which two
        #: posts of one day are likelier to fall close together than on an even day
        self.kappa = float(n_bins * np.sum(self.share * self.share))
        minutes = int(TIME_OF_DAY_BIN_S // 60)
        per_minute = np.repeat(self.share / minutes, minutes)
        # The difference t - s of two posts, in whole minutes from -1439 to 1439, and its CDF at
        # the middle of each minute.
        self._lags_min = np.arange(-len(per_minute) + 1, len(per_minute)) + 0.5
        self._cdf = np.cumsum(np.correlate(per_minute, per_minute, mode="full"))

    def density(self, ts_s: float) -> float:
        """The density of posting at this time of day, relative to an even day (mean 1)."""
        return float(len(self.share) * self.share[int((ts_s % 86400.0) // TIME_OF_DAY_BIN_S)])

    def _difference_at_most(self, lag_s: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(lag_s, dtype=float) / 60.0, self._lags_min, self._cdf, left=0.0, right=1.0)

    def same_day(self, gap_s: np.ndarray | float) -> np.ndarray:
        """P(|t - s| <= gap) for two posts of the same day."""
        gap_s = np.asarray(gap_s, dtype=float)
        return np.clip(self._difference_at_most(gap_s) - self._difference_at_most(-gap_s), 0.0, 1.0)

    def next_day(self, gap_s: np.ndarray | float) -> np.ndarray:
        """P(t + 1 day - s <= gap) for a post s of one day and a post t of the next."""
        return np.clip(self._difference_at_most(np.asarray(gap_s, dtype=float) - 86400.0), 0.0, 1.0)


def _day_shares(ts_s: np.ndarray, bin_s: float) -> tuple[float, float]:
    """(sum_d n_d^2 - n_d, sum_d n_d * n_(d+1)) over a content's days: ordered post pairs on the
    same day (of different posts) and on consecutive days."""
    days, counts = np.unique(np.floor(np.asarray(ts_s) / bin_s).astype(np.int64), return_counts=True)
    counts = counts.astype(float)
    same = float(np.sum(counts * counts - counts))
    nxt = np.flatnonzero(np.diff(days) == 1)
    adjacent = float(np.sum(counts[nxt] * counts[nxt + 1]))
    return same, adjacent


def pair_within_probability(ts_s: np.ndarray, window_s: float, day: TimeOfDay) -> float:
    """q_c: the chance that two posts of this content fall within the window of each other."""
    ts_s = np.asarray(ts_s, dtype=float)
    n = len(ts_s)
    if n == 0:
        return 0.0
    days, counts = np.unique(np.floor(ts_s / POPULARITY_BIN_S).astype(np.int64), return_counts=True)
    pi = counts / n
    same = float(np.sum(pi * pi))
    nxt = np.flatnonzero(np.diff(days) == 1)
    adjacent = float(np.sum(pi[nxt] * pi[nxt + 1]))
    # Two posts on consecutive days: d then d+1, or d+1 then d.
    return min(1.0, float(same * day.same_day(window_s) + 2 * adjacent * day.next_day(window_s)))


def expected_pairs_within(ts_s: np.ndarray, gaps_s: np.ndarray, day: TimeOfDay) -> np.ndarray:
    """Pairs of a content's posts that the null model expects within each gap."""
    same, adjacent = _day_shares(ts_s, POPULARITY_BIN_S)
    return same / 2 * day.same_day(gaps_s) + adjacent * day.next_day(gaps_s)


def observed_pairs_within(sorted_ts_s: np.ndarray, gaps_s: np.ndarray) -> np.ndarray:
    """Pairs of posts (sorted times) at most each gap apart."""
    t = np.asarray(sorted_ts_s, dtype=float)
    gaps_s = np.asarray(gaps_s, dtype=float)
    ends = np.searchsorted(t, t[np.newaxis, :] + gaps_s[:, np.newaxis], side="right")
    return (ends.sum(axis=1) - len(t) * (len(t) + 1) / 2).astype(float)


#: Co-posting beyond chance must stand out by this many standard deviations of chance (the
#: square root of the pairs chance gives at that gap) at some gap to estimate a window.
EXCESS_NOISE_SD = 3.0


@dataclass(frozen=True)
class WindowEstimate:
    window_s: float | None  # None: no co-posting beyond chance to estimate from
    excess_pairs: float  # weighted pairs of posts co-posted beyond chance, where it stands out most
    clusters: int  # contents with re-posts that the estimate used


def estimate_window(
    times_by_cluster: list[np.ndarray], day: TimeOfDay, share: float = EXCESS_SHARE, grid_s: np.ndarray = WINDOW_GRID_S
) -> WindowEstimate:
    """The smallest gap on the grid that holds `share` of the co-posting beyond chance.

    The excess at a gap is the pairs of posts of one content observed within it minus those the
    null model expects, each content's pairs weighted by 1 / (its posts - 1): each post counts
    about once, so content posted by thousands (millions of pairs, where the least misfit of the
    model would outweigh every burst) weighs per post what rare content does. It is read at the gap where it stands out most against chance (the
    largest ratio of the excess to the square root of the pairs chance gives, as a matched filter
    would): there the bursts beyond chance are tightest, and neither the many pairs chance gives
    at long gaps nor slower waves of re-posts (a viral clip over hours) set the window. Standing
    out by less than `EXCESS_NOISE_SD` standard deviations anywhere: no estimate.
    """
    observed = np.zeros(len(grid_s))
    expected = np.zeros(len(grid_s))
    variance = np.zeros(len(grid_s))
    used = 0
    for ts in times_by_cluster:
        if len(ts) < 2:
            continue
        used += 1
        ts = np.sort(np.asarray(ts, dtype=float))
        weight = 1.0 / (len(ts) - 1)
        chance_pairs = expected_pairs_within(ts, grid_s, day)
        observed += weight * observed_pairs_within(ts, grid_s)
        expected += weight * chance_pairs
        variance += weight * weight * chance_pairs
    excess = observed - expected
    stands_out = excess / np.sqrt(variance + 1e-12)
    if len(stands_out) == 0 or stands_out.max() < EXCESS_NOISE_SD:
        return WindowEstimate(None, 0.0, used)
    best = float(excess[int(np.argmax(stands_out))])
    first = int(np.flatnonzero(excess >= share * best)[0])
    return WindowEstimate(float(grid_s[first]), best, used)


class NullModel:
    """Expected chance co-posts within the window for pairs of accounts (indices 0..n-1), and the
    chance that a post falls within given stretches of time."""

    def __init__(
        self, posts: dict[int, tuple[np.ndarray, np.ndarray]], n_accounts: int, window_s: float, day: TimeOfDay
    ):
        """`posts`: per content, (account indices, posting times in seconds) of its posts;
        `day`: when in the day posts fall."""
        self.window_s = window_s
        self.day = day
        from scipy import sparse

        columns = sorted(posts)
        self.q = np.array([pair_within_probability(posts[c][1], window_s, day) for c in columns])
        rows = np.concatenate([posts[c][0] for c in columns]) if columns else np.zeros(0, dtype=np.int64)
        cols = (
            np.concatenate([np.full(len(posts[c][0]), k) for k, c in enumerate(columns)])
            if columns
            else np.zeros(0, dtype=np.int64)
        )
        # Duplicates (an account posting a content twice) are summed into its count.
        self.counts = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_accounts, len(columns)))

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
            total += day_share * self.day.density(mid) * (end - start) / POPULARITY_BIN_S
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
    observed = np.asarray(observed, dtype=float)
    expected = np.maximum(np.asarray(expected, dtype=float), 1e-300)
    tail = _poisson_log_tail(observed, expected)
    if given_at_least > 0:
        tail = tail - _poisson_log_tail(np.full_like(observed, given_at_least), expected)
    return np.minimum(1.0, np.exp(tail))


def _poisson_log_tail(at_least: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log P(X >= at_least) for X Poisson of `mean` (scipy's `poisson.logsf(at_least - 1, mean)`)."""
    from scipy import special

    below = np.maximum(at_least - 1, 0)
    with np.errstate(divide="ignore"):
        return np.where(at_least <= 0, 0.0, np.log(special.pdtrc(below, mean)))


def fdr_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values over all the tests given (as scipy's
    `false_discovery_control(p, method="bh")`): the k-th smallest is the least of m / j times the
    j-th smallest over j >= k, at most 1."""
    p_values = np.asarray(p_values, dtype=float)
    m = len(p_values)
    if m == 0:
        return p_values
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * (m / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted
