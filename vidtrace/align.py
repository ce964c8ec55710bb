"""Temporal alignment: frame hits between two videos in, matched segments out.

Pure: plain values in and out. A hit says "query frame at q_ts looks like reference frame at
r_ts". Hits of a true copy agree on one time offset (r_ts - q_ts) over a stretch of time; hits
between unrelated videos that merely share a title card or a black second do not last. So a
segment is a run of hits that share an offset, with no gap longer than `max_gap_s`, lasting at
least `min_segment_s`. A compilation gives one segment per source stretch. Scores come from
matched duration, never from counting isolated hits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import median
from typing import Sequence

from vidtrace.settings import Settings


@dataclass(frozen=True)
class FrameHit:
    q_ts: float
    r_ts: float
    distance_bits: int


@dataclass(frozen=True)
class Segment:
    """`[q_start, q_end]` of the query shows the same as `[r_start, r_end]` of the reference."""

    q_start: float
    q_end: float
    r_start: float
    r_end: float
    speed: float
    frames: int
    mean_distance_bits: float

    @property
    def duration_s(self) -> float:
        return self.q_end - self.q_start


@dataclass(frozen=True)
class Alignment:
    segments: tuple[Segment, ...]
    matched_s: float
    score: float  # share of the shorter video covered by the segments, 0-1

    def swapped(self) -> "Alignment":
        """The same alignment seen from the reference's side."""
        segments = tuple(
            sorted(
                (
                    Segment(s.r_start, s.r_end, s.q_start, s.q_end, round(1.0 / s.speed, 4), s.frames, s.mean_distance_bits)
                    for s in self.segments
                ),
                key=lambda s: s.q_start,
            )
        )
        matched = _union_length([(s.q_start, s.q_end) for s in segments])
        return Alignment(segments, round(matched, 3), self.score)


def _best_offset_window(hits: Sequence[FrameHit], tolerance_s: float) -> tuple[int, int, int]:
    """The window of offset-sorted hits, at most 2*tolerance wide, covering most distinct query times.

    Ties go to the window holding more hits, so that a true offset flanked by static-scene echoes
    (neighbouring reference frames at nearby offsets) stays inside the window instead of being cut
    off at its left-most echo.

    Returns (start, end, distinct_query_times) with hits[start:end] in the window.
    """
    best = (0, 0, 0)
    counts: Counter[float] = Counter()
    lo = 0
    for hi, hit in enumerate(hits):
        counts[hit.q_ts] += 1
        while hits[hi].r_ts - hits[hi].q_ts - (hits[lo].r_ts - hits[lo].q_ts) > 2 * tolerance_s:
            counts[hits[lo].q_ts] -= 1
            if counts[hits[lo].q_ts] == 0:
                del counts[hits[lo].q_ts]
            lo += 1
        if (len(counts), hi + 1 - lo) > (best[2], best[1] - best[0]):
            best = (lo, hi + 1, len(counts))
    return best


def _runs(hits: list[FrameHit], max_gap_s: float) -> list[list[FrameHit]]:
    """Split hits sorted by query time wherever the query time jumps by more than max_gap_s."""
    runs: list[list[FrameHit]] = []
    for hit in hits:
        if runs and hit.q_ts - runs[-1][-1].q_ts <= max_gap_s:
            runs[-1].append(hit)
        else:
            runs.append([hit])
    return runs


def _segment_from_run(run: list[FrameHit], interval_s: float, q_duration_s: float, r_duration_s: float) -> Segment:
    # One hit per query instant: the closest frame.
    by_q: dict[float, FrameHit] = {}
    for hit in run:
        if hit.q_ts not in by_q or hit.distance_bits < by_q[hit.q_ts].distance_bits:
            by_q[hit.q_ts] = hit
    chosen = sorted(by_q.values(), key=lambda h: h.q_ts)
    offset = median(h.r_ts - h.q_ts for h in chosen)
    q_start = chosen[0].q_ts
    # A sample stands for the interval up to the next sample.
    q_end = min(chosen[-1].q_ts + interval_s, max(q_duration_s, chosen[-1].q_ts))
    r_start = max(0.0, q_start + offset)
    r_end = min(q_end + offset, max(r_duration_s, chosen[-1].r_ts))
    q_end = min(q_end, q_start + (r_end - r_start))
    return Segment(
        q_start=round(q_start, 3),
        q_end=round(q_end, 3),
        r_start=round(r_start, 3),
        r_end=round(r_end, 3),
        speed=1.0,
        frames=len(chosen),
        mean_distance_bits=round(sum(h.distance_bits for h in chosen) / len(chosen), 2),
    )


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def align(hits: Sequence[FrameHit], q_duration_s: float, r_duration_s: float, settings: Settings) -> Alignment | None:
    """Segments where the two videos show the same thing, or None when nothing lasts long enough."""
    remaining = sorted(hits, key=lambda h: (h.r_ts - h.q_ts, h.q_ts))
    candidates: list[Segment] = []
    while remaining:
        start, end, distinct = _best_offset_window(remaining, settings.offset_tolerance_s)
        if distinct < settings.min_segment_frames:
            break
        window = sorted(remaining[start:end], key=lambda h: h.q_ts)
        remaining = remaining[:start] + remaining[end:]
        for run in _runs(window, settings.max_gap_s):
            segment = _segment_from_run(run, settings.sample_interval_s, q_duration_s, r_duration_s)
            if segment.frames >= settings.min_segment_frames and segment.duration_s >= settings.min_segment_s:
                candidates.append(segment)

    # Longest first; a segment overlapping an accepted one by more than half of the shorter of the
    # two, on either side, is an echo of a better one (static scenes give many parallel alignments).
    accepted: list[Segment] = []
    for seg in sorted(candidates, key=lambda s: (-s.frames, -s.duration_s, s.q_start)):
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
    shorter = max(min(q_duration_s, r_duration_s), settings.sample_interval_s)
    score = min(1.0, matched_s / shorter)
    if score < settings.min_score:
        return None
    return Alignment(tuple(accepted), round(matched_s, 3), round(score, 4))
