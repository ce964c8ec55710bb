"""Line finding: the straight lines r_ts = speed * q_ts + offset that a set of frame hits lies on.

Pure: plain values in and out. The costly half of alignment (`vidtrace.align` builds segments from
the lines found here): for each candidate speed, the window of offsets that most query times agree
on, taken out line after line, and only as far as alignment reads them (`LinePlan.line`). Lines
depend on the hits' times, distances, regions and edits only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from vidtrace.settings import Settings

if TYPE_CHECKING:
    from vidtrace.align import FrameHit

#: Hits within this many bits of a query frame's closest hit count as equally good.
CLOSE_SLACK_BITS = 2
#: A speed other than 1 is believed only when the hits fit its line this closely (RMS, s): the
#: sampling grid alone leaves up to a quarter of a second; a jump cut leaves more.
MAX_LINE_RMS_S = 0.3
#: Each candidate speed's order of the hits is sorted once, when a second line is read, and kept
#: while lines are taken out, up to this many entries over all speeds (8 bytes each: 400 MB);
#: beyond, it is sorted anew for each line. (The first line sorts only the hits of some weight.)
MAX_CACHED_ORDER_ENTRIES = 50_000_000
#: A speed is first bounded without sorting (`_window_bound`) when a line is sought among at least
#: this many hits; among fewer, the bound costs about what the search it may spare does.
BOUND_MIN_HITS = 2000


def candidate_speeds(settings: Settings) -> list[float]:
    """1.0 first, then speeds out to the limits in steps of `speed_step` (geometric)."""
    if settings.max_speed_change <= 0:
        return [1.0]
    steps = math.ceil(math.log1p(settings.max_speed_change) / math.log1p(settings.speed_step))
    out = [1.0]
    for k in range(1, steps + 1):
        up = (1 + settings.speed_step) ** k
        out += [up, 1 / up]
    return out


@dataclass(frozen=True)
class _HitArrays:
    """The hits' fields as arrays (sorted order), and each hit's picture and each picture's instant."""

    q: np.ndarray
    r: np.ndarray
    d: np.ndarray
    picture: np.ndarray  # each hit's picture (query instant and region), numbered
    instant_of_picture: np.ndarray  # each picture's query instant, numbered
    #: per candidate speed, all hits in the order of their offsets on that speed's line (then
    #: query time): the order of any subset is this order without the others (the sort is stable)
    orders: np.ndarray | None = None

    @classmethod
    def of(cls, hits: HitColumns, pictures: _Pictures, speeds: Sequence[float] = ()) -> _HitArrays:
        """`hits` in (query time, stored time) order, and their `pictures`."""
        return cls(hits.q, hits.r, hits.d, pictures.picture, pictures.instant_of_picture).with_orders(speeds)

    def with_orders(self, speeds: Sequence[float]) -> _HitArrays:
        """These arrays with each speed's order of all hits, when they fit `MAX_CACHED_ORDER_ENTRIES`
        (hits in query time order: a stable sort by offset breaks ties by query time)."""
        if not speeds or len(self.q) * len(speeds) > MAX_CACHED_ORDER_ENTRIES:
            return self
        orders = np.stack([np.argsort(self.r - speed * self.q, kind="stable") for speed in speeds])
        return replace(self, orders=orders)


@dataclass(frozen=True)
class _Pictures:
    """The query pictures (query instant and region) of hits in (query time, stored time) order."""

    picture: np.ndarray  # each hit's picture, numbered in (query time, region) order
    instant_of_picture: np.ndarray  # each picture's query instant, numbered in query time order
    by_picture: np.ndarray  # the hits by picture, then by stored time (their order kept)

    @classmethod
    def of(cls, hits: HitColumns) -> _Pictures:
        q = hits.q
        if len(q) == 0:
            return cls(*(np.zeros(0, dtype=np.int64) for _ in range(3)))
        instant = np.cumsum(np.concatenate([[0], q[1:] != q[:-1]]))
        regions = hits.q_region - hits.q_region.min()
        key = instant * (int(regions.max()) + 1) + regions
        by_picture = np.argsort(key, kind="stable")  # one sort of integers; a picture's hits keep their order
        ordered = key[by_picture]
        new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
        picture = np.empty(len(q), dtype=np.int64)
        picture[by_picture] = np.cumsum(new) - 1
        return cls(picture, instant[by_picture[new]], by_picture)  # a picture's instant: its first hit's


@dataclass(frozen=True)
class HitColumns:
    """Hits as arrays, what line finding reads of them: query and stored times, bits, the query
    picture's region, and each hit's rank among the distinct sets of edits (by their sorted names)."""

    q: np.ndarray
    r: np.ndarray
    d: np.ndarray
    q_region: np.ndarray
    edits_rank: np.ndarray

    @classmethod
    def of(cls, hits: Sequence[FrameHit]) -> HitColumns:
        kinds: dict[frozenset[str], int] = {}
        numbers = np.array([kinds.setdefault(h.edits, len(kinds)) for h in hits], dtype=np.int64)
        return cls(
            np.array([h.q_ts for h in hits], dtype=np.float64),
            np.array([h.r_ts for h in hits], dtype=np.float64),
            np.array([h.distance_bits for h in hits], dtype=np.int64),
            np.array([h.q_region for h in hits], dtype=np.int64),
            edit_ranks(list(kinds))[numbers] if len(numbers) else numbers,
        )

    def take(self, order: np.ndarray) -> HitColumns:
        return HitColumns(*(a[order] for a in (self.q, self.r, self.d, self.q_region, self.edits_rank)))


def edit_ranks(kinds: Sequence[frozenset[str]]) -> np.ndarray:
    """Each set of edits' rank in the order of their sorted names."""
    keys = [tuple(sorted(k)) for k in kinds]
    rank = np.zeros(len(keys), dtype=np.int64)
    for n, k in enumerate(sorted(range(len(keys)), key=keys.__getitem__)):
        rank[k] = n
    return rank


@dataclass(frozen=True)
class _Window:
    """The best window of one speed: the offsets [o, o + 2 * tolerance] holding the most weight,
    starting at a hit. Only hits of some weight can change a window's weight, so the scores are
    taken over them alone (sorted alone when no order of all hits is at hand), and the window's
    first hit (the first of all hits, by offset then query time, whose window holds that weight,
    as scanning every hit would find) only for the windows read."""

    score: float
    offsets: np.ndarray  # every hit's offset on this speed's line (hits in query time order)
    weight: np.ndarray
    weighted_order: np.ndarray  # the hits of some weight, by offset then query time
    cum: np.ndarray  # their weights summed in that order, from 0
    weighted_offsets: np.ndarray
    first_best: int  # the first start of the best window, in `weighted_order`
    tolerance_s: float
    order: np.ndarray | None  # all hits by offset then query time, when at hand

    @classmethod
    def best(cls, offsets: np.ndarray, weight: np.ndarray, tolerance_s: float, order: np.ndarray | None) -> _Window:
        if order is not None:
            weighted_order = order[weight[order] > 0]
        else:
            weighted = np.flatnonzero(weight > 0)
            weighted_order = weighted[np.argsort(offsets[weighted], kind="stable")]
        cum = np.concatenate([[0.0], np.cumsum(weight[weighted_order])])
        weighted_offsets = offsets[weighted_order]
        ends = np.searchsorted(weighted_offsets, weighted_offsets + 2 * tolerance_s, side="right")
        scores = cum[ends] - cum[:-1]
        best = int(np.argmax(scores)) if len(scores) else 0
        score = float(scores[best]) if len(scores) else 0.0
        return cls(score, offsets, weight, weighted_order, cum, weighted_offsets, best, tolerance_s, order)

    def picked(self) -> np.ndarray:
        """The window's hits (indices into the hits, ascending)."""
        order = self.order if self.order is not None else np.argsort(self.offsets, kind="stable")
        weighted = np.flatnonzero(self.weight[order] > 0)
        i = 0  # no hit of any weight: every window weighs 0, the first is taken
        if len(weighted):
            # Starts between the previous weighted hit and this one hold the same weight before
            # them; the first whose window reaches as far holds the best weight too.
            first = int(weighted[self.first_best - 1]) + 1 if self.first_best > 0 else 0
            starts = np.arange(first, int(weighted[self.first_best]) + 1)
            start_offsets = self.offsets[order[starts]]
            reach = np.searchsorted(self.weighted_offsets, start_offsets + 2 * self.tolerance_s, side="right")
            i = int(starts[np.flatnonzero(self.cum[reach] - self.cum[self.first_best] == self.score)[0]])
        sorted_offsets = self.offsets[order]
        end = int(np.searchsorted(sorted_offsets, sorted_offsets[i] + 2 * self.tolerance_s, side="right"))
        return np.sort(order[i:end])


def _best_line(
    arrays: _HitArrays, alive: np.ndarray, speeds: list[float], tolerance_s: float,
    margin: float, max_rms_s: float,
) -> tuple[float, np.ndarray]:  # fmt: skip
    """The speed and the hits (indices into `alive`, ascending) of the line r = speed * q + offset
    that most query times agree on, among the hits `alive` (ascending indices into `hits`).

    A query time's closest hits (within `CLOSE_SLACK_BITS` of its best) share a weight of 1, its
    farther hits (echoes of a slow scene) weigh nothing, so that a window's weight is close to the
    number of distinct query times whose best match lies on the line. Another speed beats 1.0 only
    by more than `margin` (a plain copy also fits speeds near 1 over a short stretch).
    """
    q, r, d = arrays.q[alive], arrays.r[alive], arrays.d[alive]
    # Each query picture (instant and region) shares its weight among its closest hits; the
    # pictures of one instant share that instant's weight of 1.
    inverse = arrays.picture[alive]
    best_d = np.full(len(arrays.instant_of_picture), np.iinfo(np.int64).max)
    np.minimum.at(best_d, inverse, d)
    close = d <= best_d[inverse] + CLOSE_SLACK_BITS
    counts = np.bincount(inverse, weights=close, minlength=len(best_d))
    present = np.unique(inverse)
    per_instant = np.bincount(
        arrays.instant_of_picture[present], minlength=int(arrays.instant_of_picture.max(initial=-1)) + 1
    )
    per_picture = per_instant[arrays.instant_of_picture]
    weight = np.where(close, 1.0 / (counts[inverse] * per_picture[inverse]), 0.0)
    found: list[tuple[float, float, _Window]] = []
    base = 0.0
    rank_of_alive = None
    if arrays.orders is not None:  # each speed's order of all hits, the dead ones dropped
        rank_of_alive = np.full(len(arrays.q), -1, dtype=np.int64)
        rank_of_alive[alive] = np.arange(len(q))
    bounded = len(q) >= BOUND_MIN_HITS
    for k, speed in sorted(enumerate(speeds), key=lambda ks: ks[1] != 1.0):  # 1.0 first: its score bounds
        offsets = r - speed * q
        if speed != 1.0 and bounded and _window_bound(offsets, weight, tolerance_s) <= base + margin:
            continue  # no window of this speed can beat 1.0 by the margin: never the line
        order = None
        if rank_of_alive is not None and arrays.orders is not None:
            ranked = rank_of_alive[arrays.orders[k]]
            order = ranked[ranked >= 0]
        window = _Window.best(offsets, weight, tolerance_s, order)
        if speed == 1.0:
            base = window.score
        found.append((window.score, speed, window))
    # Best first; 1.0 wins ties. Another speed must beat 1.0 by the margin and its hits must lie
    # on one straight line (not two stretches at different offsets that a slanted line joins).
    found.sort(key=lambda f: (-f[0], abs(math.log(f[1]))))
    for score, speed, window in found:
        if speed == 1.0:
            return speed, window.picked()
        if score > base + margin:
            picked = window.picked()
            if _closest_on_one_line(arrays, alive[picked], max_rms_s):
                return speed, picked
    raise AssertionError("speed 1.0 is always a candidate")


def _window_bound(offsets: np.ndarray, weight: np.ndarray, tolerance_s: float) -> float:
    """An upper bound of the best window's weight (`_Window.best`) without sorting: the offsets
    binned by half a window, the most weight in four bins in a row. A window [o, o + 2 * tolerance]
    lies in the bin of o and the two after it; the fourth takes a last bit of rounding, as the
    window's end is computed by another sum than the bins."""
    if len(offsets) == 0:
        return 0.0
    if tolerance_s <= 0:
        return float(weight.sum())  # no bins to read: every hit may lie in one window
    half = tolerance_s
    bins = np.floor((offsets - offsets.min()) / half).astype(np.int64)
    sums = np.concatenate([[0.0], np.cumsum(np.bincount(bins, weights=weight))])
    if len(sums) <= 5:
        return float(sums[-1])
    return float((sums[4:] - sums[:-4]).max())


def on_one_line(window: list[FrameHit], max_rms_s: float) -> bool:
    """Whether the closest hit of each query time lies on one straight line (RMS residual, s)."""
    by_q: dict[float, FrameHit] = {}
    for h in window:
        if h.q_ts not in by_q or h.distance_bits < by_q[h.q_ts].distance_bits:
            by_q[h.q_ts] = h
    return _fits_one_line(np.array(list(by_q)), np.array([h.r_ts for h in by_q.values()]), max_rms_s)


def _closest_on_one_line(arrays: _HitArrays, window: np.ndarray, max_rms_s: float) -> bool:
    """`on_one_line` of the hits at `window` (ascending positions, in query time order)."""
    q, d = arrays.q[window], arrays.d[window]
    order = np.lexsort((np.arange(len(window)), d, q))  # per query time, the closest, the first on a tie
    first = order[np.concatenate([[True], q[order][1:] != q[order][:-1]])] if len(order) else order
    return _fits_one_line(q[first], arrays.r[window][first], max_rms_s)


def _fits_one_line(q: np.ndarray, r: np.ndarray, max_rms_s: float) -> bool:
    if len(q) < 3:
        return False
    slope, intercept = np.polyfit(q, r, 1)
    return float(np.sqrt(np.mean((r - slope * q - intercept) ** 2))) <= max_rms_s


def _echo_spans(hits: HitColumns, pictures: _Pictures, window_s: float) -> np.ndarray:
    """For each hit (in (query time, stored time) order, with their `pictures`): how far the hits
    of its query picture (query time and region) spread within `window_s` of its stored time."""
    n = len(hits.q)
    if n == 0:
        return np.zeros(0)
    # The hits by picture, then stored time.
    by = pictures.by_picture
    r, group = hits.r[by], pictures.picture[by]
    new = np.concatenate([[True], group[1:] != group[:-1]])
    start = np.flatnonzero(new)[group]
    # Within its picture, the first stored time at or after r - window and the last at or before
    # r + window (the comparisons of bisect on the picture's sorted times, made in one sort).
    low, high = _counts_within(group, start, r, window_s)
    spans = np.empty(n)
    spans[by] = r[start + high - 1] - r[start + low]
    return spans


def _counts_within(
    group: np.ndarray, start: np.ndarray, values: np.ndarray, window: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each value, how many values of its group lie strictly below value - window, and how
    many at most at value + window; `values` sorted by group, then value, `start` each one's group's
    first position. Values and probes are compared through their ranks among all values (exact:
    no arithmetic on the times), group by group through one integer key."""
    everything = np.sort(values)
    width = len(values) + 1
    keys = group * width + np.searchsorted(everything, values, side="left")  # ascending: by group, then value

    def below(probes: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
        ranks = np.searchsorted(everything, probes, side=side)
        return np.searchsorted(keys, group * width + ranks, side="left") - start

    return below(values - window, "left"), below(values + window, "right")


class LinePlan:
    """The lines found in a set of hits (`plan_lines`): which hits each one picks, in the order
    they are found. They depend on the hits' times, distances, regions and edits only, never on
    `held_s` or `change_s`: hits that differ only in those share one plan.

    Lines are found on demand (`line`), each once: a reader that has seen enough (`align_planned`
    knows when no later line can change its result) never pays for the rest, and a second reader
    of the same plan reuses what the first found."""

    def __init__(self, hits: HitColumns, settings: Settings) -> None:
        order = np.lexsort((hits.edits_rank, hits.d, hits.r, hits.q))
        self.order: np.ndarray = order  # the hits in the order alignment reads them
        self._hits = hits.take(order)
        pictures = _Pictures.of(self._hits)
        #: per position in `order`: how far its query picture's hits spread around its stored time
        self.echo_span: np.ndarray = _echo_spans(
            self._hits, pictures, settings.max_echo_span_s + settings.offset_tolerance_s
        )
        self._settings = settings
        self._speeds = candidate_speeds(settings)
        self._found: list[tuple[float, np.ndarray]] = []
        self._left: list[tuple[int, float, float]] = []
        # The first line reads every hit: each speed's order is sorted for it alone; the orders
        # are kept for the lines after it, when they are read.
        self._arrays = _HitArrays.of(self._hits, pictures) if len(order) else None
        self._alive = np.arange(len(order))
        self._done = not len(order)

    def line(self, k: int) -> tuple[float, np.ndarray] | None:
        """The k-th line (speed, positions in `order`), best first; None past the last."""
        while len(self._found) <= k and not self._done:
            self._next()
        return self._found[k] if k < len(self._found) else None

    def q_of(self, positions: np.ndarray) -> np.ndarray:
        """The query times of the hits at `positions` in `order`."""
        return self._hits.q[positions]

    def left_after(self, k: int) -> tuple[int, float, float]:
        """What the hits that no line up to the k-th took cover: (distinct query times, first and
        last query time). A later line takes its hits among them."""
        return self._left[k]

    @property
    def lines(self) -> tuple[tuple[float, np.ndarray], ...]:
        """Every line, best first."""
        k = 0
        while self.line(k) is not None:
            k += 1
        return tuple(self._found)

    def _next(self) -> None:
        arrays, settings = self._arrays, self._settings
        assert arrays is not None
        if self._found and arrays.orders is None:
            arrays = self._arrays = arrays.with_orders(self._speeds)
        speed, picked = _best_line(
            arrays, self._alive, self._speeds, settings.offset_tolerance_s,
            settings.speed_margin_frames, MAX_LINE_RMS_S,
        )  # fmt: skip
        window = self._alive[picked]
        if len(np.unique(arrays.q[window])) < settings.min_segment_frames:
            self._done = True
            return
        self._found.append((speed, window))
        self._alive = np.delete(self._alive, picked)
        left_q = arrays.q[self._alive]
        if len(left_q):
            self._left.append((len(np.unique(left_q)), float(left_q.min()), float(left_q.max())))
        else:
            self._left.append((0, 0.0, 0.0))
            self._done = True


def plan_lines(hits: Sequence[FrameHit] | HitColumns, settings: Settings) -> LinePlan:
    """The lines of `hits` (the costly half of `align`), found once for hits that differ only in
    how long their pictures are held or where the changes lie, and only as far as they are read."""
    return LinePlan(hits if isinstance(hits, HitColumns) else HitColumns.of(hits), settings)
