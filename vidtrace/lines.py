"""Line finding: the straight lines r_ts = speed * q_ts + offset that a set of frame hits lies on.

Pure: plain values in and out. The costly half of alignment (`vidtrace.align` builds segments from
the lines found here): for each candidate speed, the window of offsets that most query times agree
on, taken out line after line. Lines depend on the hits' times, distances, regions and edits only.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vidtrace.settings import Settings

if TYPE_CHECKING:
    from vidtrace.align import FrameHit

#: Hits within this many bits of a query frame's closest hit count as equally good.
CLOSE_SLACK_BITS = 2
#: A speed other than 1 is believed only when the hits fit its line this closely (RMS, s): the
#: sampling grid alone leaves up to a quarter of a second; a jump cut leaves more.
MAX_LINE_RMS_S = 0.3
#: Each candidate speed's order of the hits is sorted once and kept while lines are taken out,
#: up to this many entries over all speeds (8 bytes each: 400 MB); beyond, it is sorted anew for
#: each line.
MAX_CACHED_ORDER_ENTRIES = 50_000_000


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
    def of(cls, hits: Sequence[FrameHit], speeds: Sequence[float] = ()) -> _HitArrays:
        q = np.array([h.q_ts for h in hits], dtype=np.float64)
        regions = np.array([h.q_region for h in hits], dtype=np.float64)
        _, picture = np.unique(np.stack([q, regions], axis=1), axis=0, return_inverse=True)
        picture = picture.ravel()
        first = np.zeros(int(picture.max(initial=-1)) + 1, dtype=np.int64)
        first[picture[::-1]] = np.arange(len(picture))[::-1]
        _, instant_of_picture = np.unique(q[first], return_inverse=True)
        r = np.array([h.r_ts for h in hits], dtype=np.float64)
        orders = None
        if speeds and len(q) * len(speeds) <= MAX_CACHED_ORDER_ENTRIES:
            orders = np.stack([np.lexsort((q, r - speed * q)) for speed in speeds])
        d = np.array([h.distance_bits for h in hits], dtype=np.int64)
        return cls(q, r, d, picture, instant_of_picture.ravel(), orders)


def _best_line(
    hits: Sequence[FrameHit], arrays: _HitArrays, alive: np.ndarray, speeds: list[float], tolerance_s: float,
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
    found: list[tuple[float, float, np.ndarray, int, int]] = []
    base = 0.0
    positions = np.arange(len(q))
    rank_of_alive = None
    if arrays.orders is not None:  # each speed's order of all hits, the dead ones dropped
        rank_of_alive = np.full(len(arrays.q), -1, dtype=np.int64)
        rank_of_alive[alive] = positions
    for k, speed in enumerate(speeds):
        offsets = r - speed * q
        if rank_of_alive is not None and arrays.orders is not None:
            ranked = rank_of_alive[arrays.orders[k]]
            order = ranked[ranked >= 0]
        else:
            order = np.lexsort((q, offsets))
        sorted_offsets = offsets[order]
        cum = np.concatenate([[0.0], np.cumsum(weight[order])])
        ends = np.searchsorted(sorted_offsets, sorted_offsets + 2 * tolerance_s, side="right")
        scores = cum[ends] - cum[positions]
        i = int(np.argmax(scores))
        if speed == 1.0:
            base = float(scores[i])
        found.append((float(scores[i]), speed, order, i, int(ends[i])))
    # Best first; 1.0 wins ties. Another speed must beat 1.0 by the margin and its hits must lie
    # on one straight line (not two stretches at different offsets that a slanted line joins).
    found.sort(key=lambda f: (-f[0], abs(math.log(f[1]))))
    for score, speed, order, i, end in found:
        picked = np.sort(order[i:end])
        if speed == 1.0:
            return speed, picked
        if score > base + margin and on_one_line([hits[k] for k in alive[picked].tolist()], max_rms_s):
            return speed, picked
    raise AssertionError("speed 1.0 is always a candidate")


def on_one_line(window: list[FrameHit], max_rms_s: float) -> bool:
    """Whether the closest hit of each query time lies on one straight line (RMS residual, s)."""
    by_q: dict[float, FrameHit] = {}
    for h in window:
        if h.q_ts not in by_q or h.distance_bits < by_q[h.q_ts].distance_bits:
            by_q[h.q_ts] = h
    if len(by_q) < 3:
        return False
    q = np.array(list(by_q))
    r = np.array([h.r_ts for h in by_q.values()])
    slope, intercept = np.polyfit(q, r, 1)
    return float(np.sqrt(np.mean((r - slope * q - intercept) ** 2))) <= max_rms_s


def _echo_spans(hits: Sequence[FrameHit], window_s: float) -> dict[tuple[float, int, float], float]:
    """For each (q_ts, q_region, r_ts): how far that query picture's hits spread within
    `window_s` of r_ts."""
    by_q: dict[tuple[float, int], list[float]] = defaultdict(list)
    for h in hits:
        by_q[(h.q_ts, h.q_region)].append(h.r_ts)
    spans: dict[tuple[float, int, float], float] = {}
    for (q, region), rs in by_q.items():
        rs.sort()
        for r in rs:
            lo, hi = bisect_left(rs, r - window_s), bisect_right(rs, r + window_s)
            spans[(q, region, r)] = rs[hi - 1] - rs[lo]
    return spans


@dataclass(frozen=True)
class LinePlan:
    """The lines found in a set of hits (`plan_lines`): which hits each one picks, in the order
    they are found. They depend on the hits' times, distances, regions and edits only, never on
    `held_s` or `change_s`: hits that differ only in those share one plan."""

    order: tuple[int, ...]  # the hits in the order alignment reads them
    lines: tuple[tuple[float, tuple[int, ...]], ...]  # (speed, positions in `order`), best first
    echo_span: dict[tuple[float, int, float], float]


def plan_lines(hits: Sequence[FrameHit], settings: Settings) -> LinePlan:
    """Find the lines of `hits` (the costly half of `align`), once for hits that differ only in
    how long their pictures are held or where the changes lie."""
    edit_keys: dict[frozenset[str], tuple[str, ...]] = {}
    for hit in hits:
        if hit.edits not in edit_keys:
            edit_keys[hit.edits] = tuple(sorted(hit.edits))
    order = sorted(
        range(len(hits)), key=lambda k: (hits[k].q_ts, hits[k].r_ts, hits[k].distance_bits, edit_keys[hits[k].edits])
    )
    ordered = [hits[k] for k in order]
    echo_span = _echo_spans(ordered, settings.max_echo_span_s + settings.offset_tolerance_s)
    speeds = candidate_speeds(settings)
    lines: list[tuple[float, tuple[int, ...]]] = []
    if ordered:
        arrays = _HitArrays.of(ordered, speeds)
        alive = np.arange(len(ordered))
        while len(alive):
            speed, picked = _best_line(
                ordered,
                arrays,
                alive,
                speeds,
                settings.offset_tolerance_s,
                settings.speed_margin_frames,
                MAX_LINE_RMS_S,
            )
            window = alive[picked]
            if len(np.unique(arrays.q[window])) < settings.min_segment_frames:
                break
            lines.append((speed, tuple(window.tolist())))
            alive = np.delete(alive, picked)
    return LinePlan(tuple(order), tuple(lines), echo_span)
