"""Search and align: a video's frame hashes against the index, grouped into per-video matches.

Every stored video also has hashes of its mirrored content (`REGION_MIRROR`), so a horizontally
flipped copy hits them; queries search their other hashes only. A hit carries the edits that
explain it: "mirrored" when it landed on a mirrored hash, "padded" when exactly one side had
padding removed, "cropped" when one side is the zoomed-in region of the other, "reframed" when one
side is the 9:16 (16:9) centre of the other, "picture in picture" when one side is an inset
over another video. Alignment keeps the edits most of a segment's frames share, plus the speed
change.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from sqlalchemy.orm import Session

from vidtrace.align import FrameHit, align_planned, plan_lines
from vidtrace.fingerprint import (
    MOTION_REGIONS,
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_DEEP_ZOOM,
    REGION_FRAME,
    REGION_INSET,
    REGION_LAST,
    REGION_MIRROR,
    REGION_MOTION_MIRROR,
    REGION_ZOOM,
)
from vidtrace.hashes import hamming_rows, self_echo_extents, self_echo_spans, to_matrix
from vidtrace.index import FrameIndex
from vidtrace.results.matches import VideoMatch
from vidtrace.settings import Settings
from vidtrace.store import repo

MIRRORED = "mirrored"
PADDED = "padded"
CROPPED = "cropped"
REFRAMED = "reframed"
INSET = "picture in picture"
_WHOLE = (REGION_FRAME, REGION_CONTENT, REGION_MIRROR)
#: Stored only, never searched: a flipped copy's own pictures find them.
_STORED_ONLY = (REGION_MIRROR, REGION_MOTION_MIRROR)


@lru_cache(maxsize=1024)
def region_edits(q_region: int | None, r_region: int, mirrored: bool) -> frozenset[str]:
    """The edits that explain a hit between a query region and a reference region (None: unknown).
    A change region explains what its picture region would."""
    if r_region in MOTION_REGIONS:
        q_region = MOTION_REGIONS.get(q_region, q_region) if q_region is not None else None
        r_region = MOTION_REGIONS[r_region]
    edits = {MIRRORED} if mirrored else set()
    if r_region == REGION_MIRROR:  # the mirrored whole content: its own padding is unknown
        return frozenset(edits | {MIRRORED})
    pair = {q_region, r_region}
    if pair & {REGION_ZOOM, REGION_DEEP_ZOOM} and len(pair) > 1:
        edits.add(CROPPED)
    if REGION_CENTRE in pair and len(pair) > 1:
        edits.add(REFRAMED)
    if REGION_INSET in pair and len(pair) > 1:
        edits.add(INSET)
    if pair == {REGION_FRAME, REGION_CONTENT}:
        edits.add(PADDED)
    return frozenset(edits)


def plausible(q_region: int | None, r_region: int) -> bool:
    """Region pairs worth a hit: at least one side whole (a crop of one matches the other whole),
    or the same crop of both (two whole frames that differ outside it: a logo, a caption). A
    change between pictures only ever matches a change, by the same rule."""
    if q_region is None:
        return True
    if (q_region in MOTION_REGIONS) != (r_region in MOTION_REGIONS):
        return False
    if q_region in MOTION_REGIONS:
        q_region, r_region = MOTION_REGIONS[q_region], MOTION_REGIONS[r_region]
    return q_region in _WHOLE or r_region in _WHOLE or q_region == r_region


def held_spans(ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings) -> np.ndarray:
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


def held_changes(ts_s: Sequence[float], codes: np.ndarray, regions: Sequence[int] | None, settings: Settings) -> np.ndarray:
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


def _change_marks(ts_s: Sequence[float], changes: np.ndarray, settings: Settings) -> list[float | None]:
    """For each instant, the change within a picture and a half of it (the nearest), or None: two
    copies' pictures of one change may lie a picture apart."""
    if len(changes) == 0:
        return [None] * len(ts_s)
    t = np.asarray(ts_s, dtype=np.float64)
    k = np.searchsorted(changes, t)
    before, after = changes[np.clip(k - 1, 0, len(changes) - 1)], changes[np.clip(k, 0, len(changes) - 1)]
    nearest = np.where(np.abs(before - t) <= np.abs(after - t), before, after)
    close = np.abs(nearest - t) <= 1.5 * settings.hash_interval_s
    return [float(c) if ok else None for c, ok in zip(nearest.tolist(), close.tolist())]


#: A change between held pictures is read between the whole pictures this long before and after
#: an instant: each picture is the mean of this much video, so they hold no frame in common.
_CHANGE_REACH_S = 0.5
_PRIMARY = (REGION_FRAME, REGION_CONTENT)


def _stored_holds(
    frames: tuple[list[float], list[bytes], list[int]] | None, settings: Settings, changes: bool
) -> tuple[dict[tuple[float, int], float], np.ndarray]:
    """(ts, region) -> how long that stored picture is held in its video (`frames`: its times,
    hashes and regions); and, when `changes`, its held changes (else none: they only count where
    the query has some)."""
    ts, hashes, regions = frames or ([], [], [])
    if not hashes:
        return {}, np.zeros(0)
    codes = to_matrix(hashes, len(hashes[0]))
    spans = held_spans(ts, codes, regions, settings)
    held = {(t, r): float(s) for t, r, s in zip(ts, regions, spans.tolist())}
    found = changes and bool((spans > settings.max_echo_span_s).any())
    return held, held_changes(ts, codes, regions, settings) if found else np.zeros(0)


class MatchBudgetExceeded(Exception):
    """A video's hits exceed what matching may hold in memory: it is left unmatched, with why."""


#: A query picture's hits in one stored video are kept up to this many: about 3 s of that video's
#: hashes of every region. Beyond, the picture is held there (a still, a backdrop) and its hits
#: say nothing of when the videos agree: none are kept, or a sample spread over the stretch when
#: the query has held changes (a slideshow aligns on them).
MAX_HITS_PER_PICTURE = 64
#: Hits kept over all stored videos for one query, after the per-picture cap: about 260 MB of
#: arrays. A copy of moving content keeps about 110 hits per second of the query against each
#: stored copy (the real pattern clips): an hour, about 0.4 million a copy. A query with more
#: (hours of one held picture against many stored copies of it) is left unmatched with a reason
#: instead of exhausting the machine.
MAX_KEPT_HITS = 8_000_000
#: Query pictures searched together: the index answers them at once; their hits are reduced
#: before the next ones are searched, so a still video's hits never pile up.
SEARCH_CHUNK_ROWS = 256
def _plausible_table() -> np.ndarray:
    n = REGION_LAST + 1
    return np.array([[plausible(q, r) for r in range(n)] for q in range(n)], dtype=bool)


_PLAUSIBLE = _plausible_table()


def reduce_hits(groups: np.ndarray, r_ts: np.ndarray, cap: int, spread: bool) -> np.ndarray:
    """Indices of the hits to keep. `groups` numbers each (query picture, stored video) pair: a
    group of at most `cap` hits is kept whole; a larger one is dropped or, with `spread`, thinned
    to at most `cap` hits spread evenly over the stored times. Pure: arrays in, indices out."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((r_ts, groups))
    g = groups[order]
    starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    sizes = np.diff(np.append(starts, len(g)))
    member = np.repeat(np.arange(len(starts)), sizes)
    keep = sizes[member] <= cap
    if spread:
        position = np.arange(len(g)) - starts[member]
        step = np.maximum(1, -(-sizes // cap))
        keep |= position % step[member] == 0
    return order[np.flatnonzero(keep)]


@dataclass
class _Hits:
    """One stored video's kept hits, as arrays (query row, stored time and region, bits)."""

    rows: list[np.ndarray] = field(default_factory=list)
    r_ts: list[np.ndarray] = field(default_factory=list)
    r_regions: list[np.ndarray] = field(default_factory=list)
    dists: list[np.ndarray] = field(default_factory=list)

    def joined(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(parts) for parts in (self.rows, self.r_ts, self.r_regions, self.dists))


class _FrameTable:
    """Stored frames met so far (id -> video, time, region), as sorted arrays: a still video's
    hits name the same frames over and over, and millions of ids are looked up at once."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.videos = np.zeros(0, dtype=np.int64)
        self.ts = np.zeros(0, dtype=np.float64)
        self.regions = np.zeros(0, dtype=np.int64)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of `ids` in the table, -1 for those it does not hold."""
        if len(self.ids) == 0:
            return np.full(len(ids), -1)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.where(self.ids[at] == ids, at, -1)

    def lookup(self, session: Session, ids: np.ndarray) -> np.ndarray:
        """Positions of `ids` in the table (-1: no such frame in SQL), reading the new ones."""
        wanted = np.unique(ids)
        new = wanted[self._positions(wanted) < 0]
        if len(new):
            refs = list(repo.frame_refs(session, new.tolist()).items())
            self.ids = np.concatenate([self.ids, np.array([fid for fid, _ in refs], dtype=np.int64)])
            self.videos = np.concatenate([self.videos, np.array([r.video_id for _, r in refs], dtype=np.int64)])
            self.ts = np.concatenate([self.ts, np.array([r.ts_s for _, r in refs], dtype=np.float64)])
            self.regions = np.concatenate([self.regions, np.array([r.region for _, r in refs], dtype=np.int64)])
            order = np.argsort(self.ids, kind="stable")
            self.ids, self.videos, self.ts, self.regions = self.ids[order], self.videos[order], self.ts[order], self.regions[order]
        return self._positions(ids)


#: The number of pictures searched at once grows while their hits stay under this, and shrinks
#: when they pass it.
_CHUNK_HITS = 1_000_000


def _search(
    session: Session, index: FrameIndex, codes: np.ndarray, regions: np.ndarray, settings: Settings,
    accept: Callable[[repo.VideoRecord], bool], spread: bool,
) -> tuple[dict[int, _Hits], dict[int, repo.VideoRecord]]:  # fmt: skip
    """The query's hits per accepted stored video, reduced per picture (`reduce_hits`) as they come.

    Pictures with the same hash and region are searched once: a still video's thousands of
    identical pictures cost one search, and their hits are only multiplied out once reduced.
    """
    keyed = np.concatenate([regions.astype(np.uint8)[:, None], codes], axis=1)
    unique, inverse = np.unique(keyed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    rows_of = np.argsort(inverse, kind="stable")
    row_counts = np.bincount(inverse, minlength=len(unique))
    first_row = np.cumsum(row_counts) - row_counts
    table = _FrameTable()
    videos: dict[int, repo.VideoRecord] = {}
    accepted: set[int] = set()
    judged: set[int] = set()
    found: dict[int, _Hits] = defaultdict(_Hits)
    kept_total = 0
    start, size = 0, SEARCH_CHUNK_ROWS
    while start < len(unique):
        chunk = unique[start : start + size]
        u_rows, ids, dists = index.search_arrays(np.ascontiguousarray(chunk[:, 1:]), settings.max_distance_bits)
        chunk_start, start = start, start + len(chunk)
        size = max(8, size // 2) if len(ids) > _CHUNK_HITS else min(4096, size * 2) if len(ids) < _CHUNK_HITS // 8 else size
        if len(ids) == 0:
            continue
        at = table.lookup(session, ids.astype(np.int64))
        known = at >= 0
        u_rows, dists, at = u_rows[known], dists[known], at[known]
        vids = table.videos[at]
        new_vids = [v for v in np.unique(vids).tolist() if v not in judged]
        videos.update(repo.videos_by_id(session, new_vids))
        for v in new_vids:
            judged.add(v)
            video = videos.get(v)
            if video is not None and video.status == "ok" and accept(video):
                accepted.add(v)
        r_regions = table.regions[at]
        ok = np.isin(vids, np.fromiter(accepted, dtype=np.int64, count=len(accepted)))
        ok &= _PLAUSIBLE[chunk[u_rows, 0].astype(np.int64), r_regions]
        u_rows, dists, at, vids, r_regions = u_rows[ok], dists[ok].astype(np.int64), at[ok], vids[ok], r_regions[ok]
        if len(at) == 0:
            continue
        r_ts = table.ts[at]
        _, video_number = np.unique(vids, return_inverse=True)
        groups = u_rows.astype(np.int64) * (int(video_number.max()) + 1) + video_number.ravel()
        kept = reduce_hits(groups, r_ts, MAX_HITS_PER_PICTURE, spread)
        u = u_rows[kept].astype(np.int64) + chunk_start
        # Every query row with this picture's hash and region gets its hits.
        times = row_counts[u]
        kept_total += int(times.sum())
        if kept_total > MAX_KEPT_HITS:
            raise MatchBudgetExceeded(
                f"more than {MAX_KEPT_HITS:,} frame hits after collapsing held pictures; left unmatched"
            )
        hit_of = np.repeat(np.arange(len(kept)), times)
        offsets = np.arange(len(hit_of)) - np.repeat(np.cumsum(times) - times, times)
        rows = rows_of[first_row[u][hit_of] + offsets]
        pick = kept[hit_of]
        kept_vids, kept_ts, kept_regions, kept_dists = vids[pick], r_ts[pick], r_regions[pick], dists[pick]
        for v in np.unique(kept_vids).tolist():
            mine = kept_vids == v
            h = found[v]
            h.rows.append(rows[mine])
            h.r_ts.append(kept_ts[mine])
            h.r_regions.append(kept_regions[mine])
            h.dists.append(kept_dists[mine])
    return found, videos


def find_matches(
    session: Session,
    index: FrameIndex,
    ts_s: Sequence[float],
    hashes: Sequence[bytes],
    duration_s: float,
    settings: Settings,
    accept: Callable[[repo.VideoRecord], bool] = lambda video: True,
    regions: Sequence[int] | None = None,
) -> list[VideoMatch]:
    """Stored videos that share aligned segments with the query's frames, best first.

    `regions` are the query hashes' regions (`fingerprint.REGION_*`), when known. Raises
    `MatchBudgetExceeded` when the hits, held pictures collapsed, exceed `MAX_KEPT_HITS`.
    """
    if not hashes:
        return []
    rows_used = np.array([i for i in range(len(hashes)) if regions is None or regions[i] not in _STORED_ONLY], dtype=np.int64)
    if len(rows_used) == 0:
        return []
    codes = to_matrix([hashes[i] for i in rows_used], len(hashes[0]))
    used_ts = [float(ts_s[i]) for i in rows_used]
    used_regions = [int(regions[i]) for i in rows_used] if regions is not None else None
    q_held = held_spans(used_ts, codes, used_regions, settings)
    # A change between held pictures needs held pictures: most videos have none to look for.
    held_any = bool((q_held > settings.max_echo_span_s).any())
    q_changes = held_changes(used_ts, codes, used_regions, settings) if held_any else np.zeros(0)
    q_marks = _change_marks(used_ts, q_changes, settings)
    q_regions = np.asarray(used_regions if used_regions is not None else [REGION_FRAME] * len(rows_used))
    hits, videos = _search(session, index, codes, q_regions, settings, accept, spread=len(q_changes) > 0)
    # The lines of each candidate's hits are found once: the held pictures of the stored side
    # change which hits count, never which lines there are.
    aligning = []
    for video_id, arrays in hits.items():
        rows, r_ts, r_regions, dists = arrays.joined()
        if len(np.unique(rows)) < settings.min_segment_frames:
            continue  # too few to align, whatever they are
        video = videos[video_id]
        region_hits = [
            (
                FrameHit(
                    used_ts[row], r, dist, region_edits(used_regions[row] if used_regions else None, region, region in _STORED_ONLY),
                    float(q_held[row]), q_marks[row], int(q_regions[row]),
                ),
                region,
            )
            for row, r, region, dist in zip(rows.tolist(), r_ts.tolist(), r_regions.tolist(), dists.tolist())
        ]  # fmt: skip
        query_hits = [hit for hit, _ in region_hits]
        plan = plan_lines(query_hits, settings)
        if align_planned(query_hits, plan, duration_s, video.duration_s or 0.0, settings) is None:
            continue
        aligning.append((video_id, region_hits, plan))
    # The stored side's held pictures (a static logo under different content) weigh nothing
    # either, and a change between held pictures must be one in both videos: read the frames
    # of the candidates that align (in one query), and align them again with both sides' holds.
    stored = repo.frames_of_videos(session, [video_id for video_id, _, _ in aligning])
    found = []
    for video_id, region_hits, plan in aligning:
        stored_held, stored_changes = _stored_holds(stored.get(video_id), settings, changes=len(q_changes) > 0)
        r_marks = _change_marks([hit.r_ts for hit, _ in region_hits], stored_changes, settings)
        frame_hits = [
            FrameHit(
                hit.q_ts, hit.r_ts, hit.distance_bits, hit.edits, max(hit.held_s, stored_held.get((hit.r_ts, region), 0.0)),
                hit.change_s if r_mark is not None else None, hit.q_region,
            )
            for (hit, region), r_mark in zip(region_hits, r_marks)
        ]  # fmt: skip
        alignment = align_planned(frame_hits, plan, duration_s, videos[video_id].duration_s or 0.0, settings)
        if alignment is not None:
            found.append(VideoMatch(video_id, alignment))
    found.sort(key=lambda m: (-m.alignment.score, -m.alignment.matched_s, m.video_id))
    return found

