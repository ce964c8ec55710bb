"""Temporal alignment: frame hits between two videos in, matched segments out.

Pure: plain values in and out. A hit says "query frame at q_ts looks like reference frame at
r_ts". Hits of a true copy lie on one line r_ts = speed * q_ts + offset over a stretch of time
(speed 1 for a plain copy, 0.9 or 1.1 for a slowed or sped up one); hits between unrelated videos
that merely share a title card or a black second do not last. So a segment is a run of hits that
share a speed and an offset, with no gap longer than `max_gap_s`, lasting at least
`min_segment_s`. A compilation gives one segment per source stretch. Scores come from matched
duration, never from counting isolated hits.

A static picture (a title card, a studio backdrop, a held frame) matches every reference frame
that shows it, so it cannot say *when* the two videos agree: a query frame whose hits near the
line spread over more than `max_echo_span_s` of the reference is not evidence, nor is a hit
whose picture looks like its own video's frames over more than that span (`FrameHit.held_s`).
A segment needs `min_segment_frames` distinctive frames over `min_segment_s`, so that two
unrelated videos sharing an intro card or a held scene do not match.

Hits may carry the edits that explain them (a mirrored hash, a padded or cropped region); a
segment reports those shared by most of its frames, and the speed change when there is one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from statistics import median
from typing import Sequence

import numpy as np

from vidtrace.results.alignment import SLOWED_DOWN, SPED_UP, Alignment, FrameHit, Segment
from vidtrace.results.alignment import union_length as _union_length
from vidtrace.settings import Settings

#: Hits within this many bits of a query frame's closest hit count as equally good.
CLOSE_SLACK_BITS = 2
#: A speed other than 1 is believed only when the hits fit its line this closely (RMS, s): the
#: sampling grid alone leaves up to a quarter of a second; a jump cut leaves more.
MAX_LINE_RMS_S = 0.3
#: A speed change is reported (and labelled "sped up" / "slowed down") only where the evidence
#: is clear, else the segment is reported at speed 1: at least this far from 1 (a re-encode or a
#: crop fits slopes of 0.96 to 1.03 from the sampling grid and frame-rate changes alone)...
MIN_SPEED_CHANGE = 0.03
#: ...moving the two time lines apart by at least this over the segment (seconds; less is within
#: a few hash steps)...
MIN_SPEED_DRIFT_S = 0.5
#: ...and the same along the segment: each half, fitted on its own, at least this far from 1 on
#: the same side.
MIN_HALF_SPEED_CHANGE = 0.015
#: Each candidate speed's order of the hits is sorted once and kept while lines are taken out,
#: up to this many entries over all speeds (8 bytes each: 400 MB); beyond, it is sorted anew for
#: each line.
MAX_CACHED_ORDER_ENTRIES = 50_000_000


def candidate_speeds(settings: Settings) -> list[float]:
    """1.0 first, then speeds out to the limits in steps of `speed_step` (geometric)."""
    if settings.max_speed_change <= 0:
        return [1.0]
    steps = int(math.ceil(math.log1p(settings.max_speed_change) / math.log1p(settings.speed_step)))
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
    def of(cls, hits: Sequence[FrameHit], speeds: Sequence[float] = ()) -> "_HitArrays":
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
    per_instant = np.bincount(arrays.instant_of_picture[present], minlength=int(arrays.instant_of_picture.max(initial=-1)) + 1)
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
        if rank_of_alive is not None:
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
        if score > base + margin and _on_one_line([hits[k] for k in alive[picked].tolist()], max_rms_s):
            return speed, picked
    raise AssertionError("speed 1.0 is always a candidate")


def _on_one_line(window: list[FrameHit], max_rms_s: float) -> bool:
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


def _runs(hits: list[FrameHit], max_gap_s: float) -> list[list[FrameHit]]:
    """Split hits sorted by query time wherever the query time jumps by more than max_gap_s."""
    runs: list[list[FrameHit]] = []
    for hit in hits:
        if runs and hit.q_ts - runs[-1][-1].q_ts <= max_gap_s:
            runs[-1].append(hit)
        else:
            runs.append([hit])
    return runs


def _fit_speed(chosen: list[FrameHit], speed: float, settings: Settings) -> float:
    """Least-squares slope of the chosen hits when they lie on one line, else the candidate.

    Neighbouring candidates fit a short clip equally well (the drift stays inside the offset
    tolerance), so the candidate only picks the hits; the slope measures the speed.
    """
    if len(chosen) < 3:
        return speed
    q = np.array([h.q_ts for h in chosen])
    r = np.array([h.r_ts for h in chosen])
    if q.max() - q.min() < 1.0:
        return speed
    slope = float(np.polyfit(q, r, 1)[0])
    if not _on_one_line(chosen, MAX_LINE_RMS_S):
        return speed
    limit = 1 + settings.max_speed_change
    return min(limit, max(1 / limit, slope))


def _clear_speed(chosen: list[FrameHit], speed: float) -> bool:
    """Whether the chosen hits show a speed change beyond doubt (see `MIN_SPEED_CHANGE`): far
    enough from 1, drifting far enough over the segment, and the same in both halves of it."""
    change = speed - 1.0
    if abs(change) < MIN_SPEED_CHANGE - 1e-9:
        return False
    q = np.array([h.q_ts for h in chosen])
    r = np.array([h.r_ts for h in chosen])
    if abs(change) * (q.max() - q.min()) < MIN_SPEED_DRIFT_S:
        return False
    middle = (q.min() + q.max()) / 2
    for half in (q <= middle, q > middle):
        if half.sum() < 3 or np.ptp(q[half]) < 1.0:
            return False
        slope = float(np.polyfit(q[half], r[half], 1)[0])
        if (slope - 1.0) * math.copysign(1.0, change) < MIN_HALF_SPEED_CHANGE:
            return False
    return True


def _lasts(distinctive: list[FrameHit], speed: float, settings: Settings) -> bool:
    """Enough distinctive frames, lasting `min_segment_s` in both videos: a 2 s card matched
    against a 3 s card along a slanted line lasts 3 s in one video only."""
    if len(distinctive) < settings.min_segment_frames:
        return False
    interval_s = settings.hash_interval_s
    if distinctive[-1].q_ts + interval_s - distinctive[0].q_ts < settings.min_segment_s:
        return False
    r_times = [h.r_ts for h in distinctive]
    return max(r_times) - min(r_times) + interval_s * speed >= settings.min_segment_s


def _segment_from_run(
    run: list[FrameHit], speed: float, echo_span: dict[tuple[float, int, float], float], q_duration_s: float,
    r_duration_s: float, settings: Settings,
) -> Segment | None:  # fmt: skip
    interval_s = settings.hash_interval_s
    # One hit per query instant: a distinctive one when there is one, then the closest frame,
    # the plainest explanation on a tie.
    by_q: dict[float, tuple[tuple, FrameHit]] = {}
    for hit in run:
        held = max(echo_span[(hit.q_ts, hit.q_region, hit.r_ts)], hit.held_s) > settings.max_echo_span_s
        rank = (held, hit.distance_bits, len(hit.edits), hit.r_ts)
        old = by_q.get(hit.q_ts)
        if old is None or rank < old[0]:
            by_q[hit.q_ts] = (rank, hit)
    ranked = sorted(by_q.values(), key=lambda item: item[1].q_ts)
    chosen = [h for _, h in ranked]
    distinctive = [h for rank, h in ranked if not rank[0]]
    if len({h.change_s for h in run if h.change_s is not None}) >= settings.min_held_changes:
        distinctive = chosen  # held pictures whose changes line up in both videos: a slideshow
    if not _lasts(distinctive, speed, settings):
        return None
    speed = _fit_speed(chosen, speed, settings)
    if not _clear_speed(chosen, speed):
        speed = 1.0
    offset = median(h.r_ts - speed * h.q_ts for h in chosen)
    q_start = chosen[0].q_ts
    # A sample stands for the interval up to the next sample.
    q_end = min(chosen[-1].q_ts + interval_s, max(q_duration_s, chosen[-1].q_ts))
    r_start = max(0.0, speed * q_start + offset)
    r_end = min(speed * q_end + offset, max(r_duration_s, chosen[-1].r_ts))
    q_end = min(q_end, q_start + (r_end - r_start) / speed)
    if q_end <= q_start:
        return None
    votes: dict[str, int] = defaultdict(int)
    for h in chosen:
        for e in h.edits:
            votes[e] += 1
    edits = {e for e, n in votes.items() if n > len(chosen) / 2}
    if speed > 1.0:
        edits.add(SPED_UP)
    elif speed < 1.0:
        edits.add(SLOWED_DOWN)
    return Segment(
        q_start=round(q_start, 3),
        q_end=round(q_end, 3),
        r_start=round(r_start, 3),
        r_end=round(r_end, 3),
        speed=round(speed, 4),
        frames=len(chosen),
        mean_distance_bits=round(sum(h.distance_bits for h in chosen) / len(chosen), 2),
        edits=tuple(sorted(edits)),
    )


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


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


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
                ordered, arrays, alive, speeds, settings.offset_tolerance_s, settings.speed_margin_frames, MAX_LINE_RMS_S
            )
            window = alive[picked]
            if len(np.unique(arrays.q[window])) < settings.min_segment_frames:
                break
            lines.append((speed, tuple(window.tolist())))
            alive = np.delete(alive, picked)
    return LinePlan(tuple(order), tuple(lines), echo_span)


def align(hits: Sequence[FrameHit], q_duration_s: float, r_duration_s: float, settings: Settings) -> Alignment | None:
    """Segments where the two videos show the same thing, or None when nothing lasts long enough."""
    return align_planned(hits, plan_lines(hits, settings), q_duration_s, r_duration_s, settings)


def align_planned(
    hits: Sequence[FrameHit], plan: LinePlan, q_duration_s: float, r_duration_s: float, settings: Settings
) -> Alignment | None:
    """`align` with the lines already found (`plan_lines` of these hits, or of hits that differ
    from them only in `held_s` and `change_s`)."""
    ordered = [hits[k] for k in plan.order]
    candidates: list[Segment] = []
    for speed, picked in plan.lines:
        window = [ordered[k] for k in picked]
        for run in _runs(window, settings.max_gap_s):
            segment = _segment_from_run(run, speed, plan.echo_span, q_duration_s, r_duration_s, settings)
            if segment is not None and segment.frames >= settings.min_segment_frames and segment.duration_s >= settings.min_segment_s:
                candidates.append(segment)

    # Longest first; a segment overlapping an accepted one by more than half of the shorter of the
    # two, on either side, is an echo of a better one (static scenes give many parallel alignments).
    accepted: list[Segment] = []
    for seg in sorted(candidates, key=lambda s: (-s.frames, -s.duration_s, s.q_start, s.r_start)):
        if any(
            _overlap(seg.q_start, seg.q_end, a.q_start, a.q_end) > 0.5 * min(seg.duration_s, a.duration_s)
            or _overlap(seg.r_start, seg.r_end, a.r_start, a.r_end)
            > 0.5 * min(seg.r_end - seg.r_start, a.r_end - a.r_start)
            for a in accepted
        ):
            continue
        accepted.append(seg)
    if not accepted:
        return None
    accepted.sort(key=lambda s: s.q_start)
    matched_s = _union_length([(s.q_start, s.q_end) for s in accepted])
    shorter = max(min(q_duration_s, r_duration_s), settings.hash_interval_s)
    score = min(1.0, matched_s / shorter)
    if score < settings.min_score:
        return None
    return Alignment(tuple(accepted), round(matched_s, 3), round(score, 4))
