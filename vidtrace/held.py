"""Held pictures: how long each of a video's hashes is held (a still, a logo, a slide), and the
instants where a video changes from one held picture to another (a slideshow's slide changes).

Pure: times, hash matrices and regions in, arrays out. Matching (`vidtrace.matching`) weighs a
hit on a held picture as no evidence of when two videos agree, unless the changes line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidtrace.fingerprint import REGION_CONTENT, REGION_FRAME
from vidtrace.hashes import hamming_rows, self_echo_extents, self_echo_spans, to_matrix
from vidtrace.settings import Settings


def held_spans(
    ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings
) -> np.ndarray:
    """How long each of a video's hashes is held: the span of its near duplicates around it in
    the same video and region (seconds; 0 for moving content)."""
    spans = np.zeros(len(ts_s))
    groups = np.asarray(regions if regions is not None else [0] * len(ts_s))
    times = np.asarray(ts_s, dtype=np.float64)
    window = settings.max_echo_span_s + settings.offset_tolerance_s
    for region in np.unique(groups):
        rows = np.flatnonzero(groups == region)
        rows = rows[np.argsort(times[rows], kind="stable")]
        spans[rows] = self_echo_spans(times[rows], codes[rows], settings.max_distance_bits, window)
    return spans


def held_changes(
    ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings
) -> np.ndarray:
    """Instants where a video changes from one held picture to another (a slideshow's slide
    changes), in seconds, sorted. At such an instant the whole pictures `_CHANGE_REACH_S` before
    and after are both held over `max_echo_span_s`, differ by more than `max_distance_bits`, and
    their near duplicates stay on their own side of it (give or take the pictures that blend the
    two): content drifting under a static logo has no such instant. A run of them is one change,
    at its middle."""
    times = np.asarray(ts_s, dtype=np.float64)
    whole = np.arange(len(times)) if regions is None else np.flatnonzero(np.isin(np.asarray(regions), _PRIMARY))
    if len(whole) < 3:
        return np.zeros(0)
    whole = whole[np.argsort(times[whole], kind="stable")]
    t, c = times[whole], codes[whole]
    window = settings.max_echo_span_s + settings.offset_tolerance_s
    first, last = self_echo_extents(t, c, settings.max_distance_bits, window)
    held = t[last] - t[first] > settings.max_echo_span_s
    slack = settings.hash_interval_s / 2
    before = np.clip(np.searchsorted(t, t - _CHANGE_REACH_S - slack), 0, len(t) - 1)
    after = np.clip(np.searchsorted(t, t + _CHANGE_REACH_S - slack), 0, len(t) - 1)
    present = (np.abs(t[before] - t + _CHANGE_REACH_S) <= slack) & (np.abs(t[after] - t - _CHANGE_REACH_S) <= slack)
    apart = hamming_rows(c[before], c[after]) > settings.max_distance_bits
    blend = _CHANGE_REACH_S / 2 + slack  # a picture is the mean of frames within half the reach of it
    separate = (t[last[before]] <= t + blend) & (t[first[after]] >= t - blend)
    at = present & held[before] & held[after] & apart & separate
    edges = np.diff(np.concatenate([[0], at.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return (t[starts] + t[stops]) / 2


def change_marks(ts_s: Sequence[float] | np.ndarray, changes: np.ndarray, settings: Settings) -> np.ndarray:
    """For each instant, the change within a picture and a half of it (the nearest), or NaN: two
    copies' pictures of one change may lie a picture apart."""
    t = np.asarray(ts_s, dtype=np.float64)
    if len(changes) == 0:
        return np.full(len(t), np.nan)
    k = np.searchsorted(changes, t)
    before, after = changes[np.clip(k - 1, 0, len(changes) - 1)], changes[np.clip(k, 0, len(changes) - 1)]
    nearest = np.where(np.abs(before - t) <= np.abs(after - t), before, after)
    return np.where(np.abs(nearest - t) <= 1.5 * settings.hash_interval_s, nearest, np.nan)


#: A change between held pictures is read between the whole pictures this long before and after
#: an instant: each picture is the mean of this much video, so they hold no frame in common.
_CHANGE_REACH_S = 0.5
_PRIMARY = (REGION_FRAME, REGION_CONTENT)


@dataclass(frozen=True)
class StoredHolds:
    """How long each of a stored video's pictures is held, by time and region: sorted by region,
    then time (a time shown twice in a region: the last one counts)."""

    ts: np.ndarray
    regions: np.ndarray
    spans: np.ndarray

    @classmethod
    def of(cls, ts: Sequence[float], regions: Sequence[int], spans: np.ndarray) -> StoredHolds:
        t, r = np.asarray(ts, dtype=np.float64), np.asarray(regions, dtype=np.int64)
        by = np.lexsort((t, r))
        return cls(t[by], r[by], np.asarray(spans, dtype=np.float64)[by])

    def at(self, ts: np.ndarray, regions: np.ndarray) -> np.ndarray:
        """The held span of the picture at each (time, region), 0 where there is none."""
        out = np.zeros(len(ts))
        for region in np.unique(regions).tolist():
            lo, hi = np.searchsorted(self.regions, [region, region + 1])
            if lo == hi:
                continue
            mine = np.flatnonzero(regions == region)
            times = self.ts[lo:hi]
            at = np.maximum(np.searchsorted(times, ts[mine], side="right") - 1, 0)
            found = times[at] == ts[mine]
            out[mine[found]] = self.spans[lo:hi][at[found]]
        return out


def stored_holds(
    frames: tuple[list[float], list[bytes], list[int]] | None, settings: Settings, changes: bool
) -> tuple[StoredHolds, np.ndarray]:
    """How long each stored picture is held in its video (`frames`: its times, hashes and
    regions); and, when `changes`, its held changes (else none: they only count where the query
    has some)."""
    ts, hashes, regions = frames or ([], [], [])
    if not hashes:
        return StoredHolds.of([], [], np.zeros(0)), np.zeros(0)
    codes = to_matrix(hashes, len(hashes[0]))
    spans = held_spans(ts, codes, regions, settings)
    found = changes and bool((spans > settings.max_echo_span_s).any())
    return StoredHolds.of(ts, regions, spans), held_changes(ts, codes, regions, settings) if found else np.zeros(0)
