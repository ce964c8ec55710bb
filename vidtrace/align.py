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
A segment needs `min_segment_frames` distinctive frames over `min_distinct_s`, and lasts
`min_segment_s` with its held pictures on the same line, so that two
unrelated videos sharing an intro card or a held scene do not match, and `min_segment_instants`
instants in all, so that a few change pictures alike by chance do not either.

Hits may carry the edits that explain them (a mirrored hash, a padded or cropped region); a
segment reports those shared by most of its frames, and the speed change when there is one.

The lines are found in `vidtrace.lines` (`plan_lines`); segments are built from them here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Protocol

import numpy as np

from vidtrace.lines import (  # noqa: F401  (line finding, re-exported where it used to live)
    CLOSE_SLACK_BITS,
    MAX_CACHED_ORDER_ENTRIES,
    MAX_LINE_RMS_S,
    LinePlan,
    candidate_speeds,
    on_one_line,
    plan_lines,
)
from vidtrace.results.alignment import SLOWED_DOWN, SPED_UP, Alignment, FrameHit, Segment
from vidtrace.results.alignment import union_length as _union_length
from vidtrace.settings import Settings

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
#: Of two overlapping segments, the one with more evidence within this share of
#: `max_distance_bits` wins (then the one with more evidence): a face alike at another moment of
#: one recording lines up as much evidence as the true moment, but farther (a child's recording:
#: 16 evidence pictures each, 1 of them within 5 bits against 11).
CLOSE_EVIDENCE_SHARE = 0.5
#: Speeds are measured on pairs of hits at least this far apart in the query (s): closer pairs'
#: slopes are mostly the jitter of the hash grid...
MIN_SLOPE_BASE_S = 0.5
#: ...on at most this many hits (the median slope of their pairs; ~20,000 pairs).
MAX_SLOPE_POINTS = 200
#: Distinctive frames spanning less than `min_segment_s` (a short clip held before and after its
#: motion) must be at least this share of the query instants they span: a moving stretch is
#: continuous, frames alike by chance are scattered (5 of 13 under a shared static logo).
MIN_SHORT_DENSITY = 0.5
#: ...and lie this close on average (share of `max_distance_bits`): re-encodes land at 0 to 3
#: bits; two stretches of one recording 2 s apart (a child pulling the same faces) matched at 8.2
#: and 5.7 bits on 11 and 13 such frames over 2.1 s.
MAX_SHORT_DISTANCE_SHARE = 0.5


@dataclass(frozen=True)
class HitFields:
    """What choosing a segment's frames reads of hits, as arrays: query and stored times, bits,
    how many edits explain each, how long its pictures are held, and its change (NaN: none)."""

    q: np.ndarray
    r: np.ndarray
    d: np.ndarray
    n_edits: np.ndarray
    held_s: np.ndarray
    change_s: np.ndarray

    @classmethod
    def of(cls, hits: Sequence[FrameHit]) -> HitFields:
        return cls(
            np.array([h.q_ts for h in hits], dtype=np.float64),
            np.array([h.r_ts for h in hits], dtype=np.float64),
            np.array([h.distance_bits for h in hits], dtype=np.int64),
            np.array([len(h.edits) for h in hits], dtype=np.int64),
            np.array([h.held_s for h in hits], dtype=np.float64),
            np.array([np.nan if h.change_s is None else h.change_s for h in hits], dtype=np.float64),
        )

    def at(self, k: np.ndarray) -> HitFields:
        return HitFields(self.q[k], self.r[k], self.d[k], self.n_edits[k], self.held_s[k], self.change_s[k])


class HitSource(Protocol):
    """Hits read by position: `fields` of many at once, and `FrameHit`s of the few chosen."""

    def hits_at(self, k: np.ndarray, /) -> list[FrameHit]: ...

    def fields(self, k: np.ndarray, /) -> HitFields: ...


class HitList:
    """A list of `FrameHit`s as a `HitSource`."""

    def __init__(self, hits: Sequence[FrameHit]) -> None:
        self.hits = list(hits)
        self._fields = HitFields.of(self.hits)

    def hits_at(self, k: np.ndarray) -> list[FrameHit]:
        return [self.hits[i] for i in k.tolist()]

    def fields(self, k: np.ndarray) -> HitFields:
        return self._fields.at(k)


def _runs(q_ts: np.ndarray, max_gap_s: float) -> list[tuple[int, int]]:
    """Where hits sorted by query time split into runs, wherever the query time jumps by more than
    max_gap_s: (start, stop) of each."""
    cuts = (np.flatnonzero(np.diff(q_ts) > max_gap_s) + 1).tolist()
    return list(zip([0, *cuts], [*cuts, len(q_ts)])) if len(q_ts) else []


def _chosen(fields: HitFields, echo_span: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray, bool]:
    """One hit per query instant of a run: a distinctive one when there is one, then the closest
    frame, the plainest explanation, the earliest stored time, the first on a tie. Their
    positions in the run (by query time), which are distinctive, and whether the run's held
    pictures change in step in both videos (a slideshow: then all are)."""
    held = np.maximum(echo_span, fields.held_s) > settings.max_echo_span_s
    n = len(fields.q)
    order = np.lexsort((np.arange(n), fields.r, fields.n_edits, fields.d, held, fields.q))
    first = order[np.concatenate([[True], fields.q[order][1:] != fields.q[order][:-1]])]
    changes = fields.change_s[~np.isnan(fields.change_s)]
    slideshow = len(np.unique(changes)) >= settings.min_held_changes
    return first, ~held[first], slideshow


def _slope(q: np.ndarray, r: np.ndarray) -> float | None:
    """Theil-Sen slope of r against q: the median slope over pairs of points at least
    `MIN_SLOPE_BASE_S` apart (at most `MAX_SLOPE_POINTS` points, evenly picked), or None without
    such a pair. A few hits off the line (a face that looks alike a second away) barely move it,
    where they tilt a least-squares line over a few seconds by a fifth."""
    if len(q) > MAX_SLOPE_POINTS:
        pick = np.linspace(0, len(q) - 1, MAX_SLOPE_POINTS).round().astype(np.int64)
        q, r = q[pick], r[pick]
    i, j = np.triu_indices(len(q), 1)
    dq = q[j] - q[i]
    far = np.abs(dq) >= MIN_SLOPE_BASE_S
    if not far.any():
        return None
    return float(np.median((r[j] - r[i])[far] / dq[far]))


def _fit_speed(chosen: list[FrameHit], speed: float, settings: Settings) -> float | None:
    """The slope of the chosen hits (`_slope`) when they lie on one line, else the candidate;
    None when that slope is a speed no copy is aligned at (`max_slope_overshoot`).

    Neighbouring candidates fit a short clip equally well (the drift stays inside the offset
    tolerance), so the candidate only picks the hits; the slope measures the speed.
    """
    if len(chosen) < 3:
        return speed
    q = np.array([h.q_ts for h in chosen])
    r = np.array([h.r_ts for h in chosen])
    if q.max() - q.min() < 1.0:
        return speed
    slope = _slope(q, r)
    if slope is None or not on_one_line(chosen, MAX_LINE_RMS_S):
        return speed
    limit = 1 + settings.max_speed_change
    if not 1 / limit - settings.max_slope_overshoot <= slope <= limit + settings.max_slope_overshoot:
        return None
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
        slope = _slope(q[half], r[half])
        if slope is None or (slope - 1.0) * math.copysign(1.0, change) < MIN_HALF_SPEED_CHANGE:
            return False
    return True


def _spans(hits: list[FrameHit], speed: float, need_s: float, interval_s: float) -> bool:
    """Whether `hits` (by query time) span `need_s` in both videos, a sample standing for the
    interval up to the next."""
    if hits[-1].q_ts + interval_s - hits[0].q_ts < need_s:
        return False
    r_times = [h.r_ts for h in hits]
    return max(r_times) - min(r_times) + interval_s * speed >= need_s


def _lasts(chosen: list[FrameHit], distinctive: list[FrameHit], speed: float, settings: Settings) -> bool:
    """Enough distinctive frames, spanning `min_distinct_s` in both videos (`min_segment_s` when
    that is shorter; densely and closely, see `MIN_SHORT_DENSITY`, while they span less than
    that), and the run's frames, held pictures included, `min_segment_s`: a 2 s card matched
    against a 3 s card along a slanted line spans 3 s in one video only."""
    if len(distinctive) < settings.min_segment_frames:
        return False
    interval_s = settings.hash_interval_s
    need_s = min(settings.min_distinct_s, settings.min_segment_s)
    if not (
        _spans(distinctive, speed, need_s, interval_s) and _spans(chosen, speed, settings.min_segment_s, interval_s)
    ):
        return False
    instants = (distinctive[-1].q_ts - distinctive[0].q_ts) / interval_s + 1
    if instants * interval_s >= settings.min_segment_s:
        return True
    mean_bits = sum(h.distance_bits for h in distinctive) / len(distinctive)
    return (
        len(distinctive) >= MIN_SHORT_DENSITY * instants
        and mean_bits <= MAX_SHORT_DISTANCE_SHARE * settings.max_distance_bits
    )


def _segment_from_run(
    hits: HitSource, at: np.ndarray, echo_span: np.ndarray, speed: float, q_duration_s: float,
    r_duration_s: float, settings: Settings,
) -> tuple[Segment, int, int] | None:  # fmt: skip
    """The segment of a run of one line's hits (`at`, positions in `hits` by query time, each
    with how far its query picture's hits spread around it) and how many of its frames are close
    evidence and evidence, or None when its distinctive frames do not last."""
    interval_s = settings.hash_interval_s
    first, distinct, slideshow = _chosen(hits.fields(at), echo_span, settings)
    chosen = hits.hits_at(at[first])
    distinctive = chosen if slideshow else [h for h, ok in zip(chosen, distinct.tolist()) if ok]
    if not _lasts(chosen, distinctive, speed, settings):
        return None
    # The speed and offset come from the evidence: a held picture on the line matches wherever the
    # other video shows it, so it says where the segment runs to, never when the two agree.
    fitted = _fit_speed(distinctive, speed, settings)
    if fitted is None:
        return None
    speed = fitted
    if not _clear_speed(distinctive, speed):
        speed = 1.0
    offset = median(h.r_ts - speed * h.q_ts for h in distinctive)
    # Held pictures on the line from before the other video starts (it held them less long) are
    # cut where it starts.
    q_start = max(chosen[0].q_ts, -offset / speed)
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
    segment = Segment(
        q_start=round(q_start, 3),
        q_end=round(q_end, 3),
        r_start=round(r_start, 3),
        r_end=round(r_end, 3),
        speed=round(speed, 4),
        frames=len(chosen),
        mean_distance_bits=round(sum(h.distance_bits for h in chosen) / len(chosen), 2),
        edits=tuple(sorted(edits)),
    )
    close = sum(h.distance_bits <= CLOSE_EVIDENCE_SHARE * settings.max_distance_bits for h in distinctive)
    return segment, close, len(distinctive)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def align(hits: Sequence[FrameHit], q_duration_s: float, r_duration_s: float, settings: Settings) -> Alignment | None:
    """Segments where the two videos show the same thing, or None when nothing lasts long enough."""
    return align_planned(hits, plan_lines(hits, settings), q_duration_s, r_duration_s, settings)


#: A candidate segment, how many of its frames are close evidence (`CLOSE_EVIDENCE_SHARE`) and how
#: many are evidence (not held pictures).
_Candidate = tuple[Segment, int, int]


def _accepted(candidates: list[_Candidate]) -> list[_Candidate]:
    """Most close evidence first, then most evidence (then most frames, longest); a segment
    overlapping an accepted one by more than half of the shorter of the two, on either side, is an
    echo of a better one (static scenes give many parallel alignments, a face pulled again later
    gives a slanted one whose held pictures can outnumber a true line's, and a face alike at
    another moment of the recording a parallel one with as much evidence, farther)."""
    accepted: list[_Candidate] = []
    order = sorted(candidates, key=lambda c: (-c[1], -c[2], -c[0].frames, -c[0].duration_s, c[0].q_start, c[0].r_start))
    for seg, close, evidence in order:
        if any(
            _overlap(seg.q_start, seg.q_end, a.q_start, a.q_end) > 0.5 * min(seg.duration_s, a.duration_s)
            or _overlap(seg.r_start, seg.r_end, a.r_start, a.r_end)
            > 0.5 * min(seg.r_end - seg.r_start, a.r_end - a.r_start)
            for a, _, _ in accepted
        ):
            continue
        accepted.append((seg, close, evidence))
    return accepted


def _settled(accepted: list[_Candidate], left: tuple[int, float, float], settings: Settings) -> bool:
    """Whether no later line can change which segments are accepted: an accepted segment with more
    close evidence frames than the hits left have query times is accepted before any later segment
    whatever comes (segments are taken most close evidence first), and when one such spans every
    query time left (plus the interval a sample stands for), any later segment lies inside it and
    is its echo."""
    instants, first_q, last_q = left
    if instants == 0:
        return True
    end = round(last_q + settings.hash_interval_s, 3)
    return any(n > instants and a.q_start <= round(first_q, 3) and a.q_end >= end for a, n, _ in accepted)


def align_planned(
    hits: Sequence[FrameHit] | HitSource, plan: LinePlan, q_duration_s: float, r_duration_s: float,
    settings: Settings,
) -> Alignment | None:  # fmt: skip
    """`align` with the lines already found (`plan_lines` of these hits, or of hits that differ
    from them only in `held_s` and `change_s`). Only the hits on the lines read are looked at, and
    only the chosen ones as `FrameHit`s: a `HitSource` makes only those."""
    source = HitList(hits) if isinstance(hits, Sequence) else hits
    candidates: list[_Candidate] = []
    accepted: list[_Candidate] = []
    k = 0
    while (line := plan.line(k)) is not None:
        speed, picked = line
        at, echoes = plan.order[picked], plan.echo_span[picked]
        for start, stop in _runs(plan.q_of(picked), settings.max_gap_s):
            found = _segment_from_run(
                source, at[start:stop], echoes[start:stop], speed, q_duration_s, r_duration_s, settings
            )
            if (
                found is not None
                and found[0].frames >= settings.min_segment_instants  # its evidence frames: `_lasts`
                and found[0].duration_s >= settings.min_segment_s
            ):
                candidates.append(found)
        accepted = _accepted(candidates)
        if _settled(accepted, plan.left_after(k), settings):
            break
        k += 1
    if not accepted:
        return None
    segments = sorted((s for s, _, _ in accepted), key=lambda s: s.q_start)
    matched_s = _union_length([(s.q_start, s.q_end) for s in segments])
    shorter = max(min(q_duration_s, r_duration_s), settings.hash_interval_s)
    score = min(1.0, matched_s / shorter)
    if score < settings.min_score:
        return None
    return Alignment(tuple(segments), round(matched_s, 3), round(score, 4))
