"""A candidate's kept hits aligned: first with the query's held pictures alone (which candidates
align at all), then with the candidate's held pictures too, once its frames are read.

Pure: the query, its kept hits per stored video (`vidtrace.matching.search`) and the candidates'
frames come in as values; matches come out. The hits stay arrays; alignment makes a `FrameHit`
only of the few it chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from vidtrace import threads
from vidtrace.align import FrameHit, HitFields, LinePlan, align_planned, plan_lines
from vidtrace.held import StoredHolds, change_marks, stored_holds
from vidtrace.lines import HitColumns, candidate_speeds, edit_ranks
from vidtrace.matching import KeptHits, Query
from vidtrace.region_pairs import region_edits
from vidtrace.results.matches import VideoMatch
from vidtrace.settings import Settings
from vidtrace.spec import REGION_LAST


@dataclass(frozen=True)
class _CandidateHits:
    """One candidate's kept hits as arrays, each hit's query time, held span and change among them.
    Alignment reads only the hits on the lines it looks at, and makes a `FrameHit` of the chosen
    ones only (`hits_at`): with the query's held pictures, and once the candidate's frames are
    read (`with_stored`), with its held pictures and changes too."""

    query: Query
    rows: np.ndarray
    q_ts: np.ndarray
    r_ts: np.ndarray
    r_regions: np.ndarray
    dists: np.ndarray
    pair: np.ndarray  # each hit's (query region, stored region) pair, numbered
    pair_edits: list[frozenset[str]]
    held_s: np.ndarray  # how long the hit's pictures are held (the larger of the two sides')
    change_s: np.ndarray  # the change the hit lies at (NaN: none)

    def __len__(self) -> int:
        return len(self.rows)

    def hits_at(self, k: np.ndarray) -> list[FrameHit]:
        rows = self.rows[k]
        ts_s, edits = self.query.ts_s, self.pair_edits
        columns = (
            rows.tolist(), self.r_ts[k].tolist(), self.dists[k].tolist(), self.pair[k].tolist(),
            self.held_s[k].tolist(), self.change_s[k].tolist(), self.query.q_regions[rows].tolist(),
        )  # fmt: skip
        return [
            FrameHit(ts_s[row], r, d, edits[pair], held, None if change != change else change, region)
            for row, r, d, pair, held, change, region in zip(*columns)
        ]

    def fields(self, k: np.ndarray) -> HitFields:
        n_edits = np.array([len(e) for e in self.pair_edits], dtype=np.int64)[self.pair[k]]
        return HitFields(self.q_ts[k], self.r_ts[k], self.dists[k], n_edits, self.held_s[k], self.change_s[k])

    def with_stored(self, stored: StoredHolds, r_marks: np.ndarray | None) -> _CandidateHits:
        """These hits once the candidate's frames are read: its held spans, and the stored side's
        change near each hit (NaN: none; None: no changes)."""
        held = np.maximum(self.held_s, stored.at(self.r_ts, self.r_regions))
        if r_marks is None:
            change = np.full(len(self.rows), np.nan)
        else:
            change = np.where(np.isnan(r_marks), np.nan, self.change_s)
        return replace(self, held_s=held, change_s=change)

    def columns(self) -> HitColumns:
        ranks = edit_ranks(self.pair_edits)
        return HitColumns(
            self.q_ts, self.r_ts, self.dists, self.query.q_regions[self.rows].astype(np.int64), ranks[self.pair]
        )


def _candidate_hits(query: Query, arrays: KeptHits) -> _CandidateHits:
    rows, r_ts, r_regions, dists = arrays.joined()
    rows, r_regions, dists = rows.astype(np.int64), r_regions.astype(np.int64), dists.astype(np.int64)
    r_ts = r_ts.astype(np.float64)
    q_key = query.q_regions[rows].astype(np.int64) if query.regions else np.full(len(rows), -1, dtype=np.int64)
    width = REGION_LAST + 2  # stored regions 0..REGION_LAST; query regions -1 (unknown)..REGION_LAST
    codes, pair = np.unique((q_key + 1) * width + r_regions, return_inverse=True)
    pair_edits = [
        region_edits(None if q < 0 else q, r) for q, r in zip((codes // width - 1).tolist(), (codes % width).tolist())
    ]
    marks = query.marks
    return _CandidateHits(
        query, rows, np.asarray(query.ts_s, dtype=np.float64)[rows], r_ts, r_regions, dists, pair.ravel(), pair_edits,
        query.held_s[rows].astype(np.float64), marks[rows] if len(marks) else np.zeros(0),
    )  # fmt: skip


#: Candidates are aligned in this many threads (`vidtrace.threads`: the cores this process may
#: use, at most 4). Alignment is numpy sorting and searching, which runs outside the interpreter
#: lock: on 2 cores, 2 threads align the 35 candidates of a 60 s talking-head clip in 1.2 s
#: instead of 2.2 s.
ALIGN_THREADS = threads.THREADS
#: ...but a candidate whose line finding may keep each speed's order of its hits
#: (`lines.MAX_CACHED_ORDER_ENTRIES` entries, 8 bytes each) beyond this many entries is aligned
#: alone, after the others: two such at once would double the peak memory of matching.
MAX_THREADED_ORDER_ENTRIES = 10_000_000

_T = TypeVar("_T")
_R = TypeVar("_R")


def each(work: Callable[[_T], _R], items: Sequence[_T], sizes: Sequence[int], per_size: int) -> list[_R]:
    """`work` of each item, in order: in `ALIGN_THREADS` threads, except the items whose size
    times `per_size` passes `MAX_THREADED_ORDER_ENTRIES`, done one at a time after the others.
    Pure work only (no session, no shared state): the results are those of a loop."""
    alone = [size * per_size > MAX_THREADED_ORDER_ENTRIES for size in sizes]
    return threads.each(work, items, alone, ALIGN_THREADS)


#: A candidate that aligns on the query's side alone: its hits and their lines.
Aligning = tuple[int, _CandidateHits, LinePlan]


def aligning(
    query: Query, hits: dict[int, KeptHits], durations_s: dict[int, float], settings: Settings
) -> list[Aligning]:
    """The candidates whose hits align, with the query's held pictures only. Their lines are found
    once: the held pictures of the stored side change which hits count, never which lines there
    are. Candidates are aligned in threads (`each`)."""

    def one(item: tuple[int, KeptHits]) -> Aligning | None:
        video_id, arrays = item
        candidate = _candidate_hits(query, arrays)
        if len(np.unique(candidate.rows)) < settings.min_segment_frames:
            return None  # too few to align, whatever they are
        plan = plan_lines(candidate.columns(), settings)
        if align_planned(candidate, plan, query.duration_s, durations_s[video_id], settings) is None:
            return None
        return video_id, candidate, plan

    items = list(hits.items())
    sizes = [sum(len(part) for part in arrays.rows) for _, arrays in items]
    return [a for a in each(one, items, sizes, len(candidate_speeds(settings))) if a is not None]


#: A stored video's held pictures and, when asked for, its changes (`stored_holds`), by video id
#: and whether changes were asked for: the queries of one batch share them.
Holds = dict[tuple[int, bool], tuple[StoredHolds, np.ndarray]]


def finish(
    query: Query, candidates: list[Aligning], stored: dict[int, tuple[list[float], list[bytes], list[int]]],
    durations_s: dict[int, float], settings: Settings, holds_of: Holds | None = None,
) -> list[VideoMatch]:  # fmt: skip
    """The matches, best first: the candidates aligned again with the stored side's held pictures
    too (a static logo under different content weighs nothing), a change between held pictures
    counting only where it is one in both videos. `stored`: the candidates' frames; `holds_of`:
    their held pictures found so far (added to)."""
    holds_of = {} if holds_of is None else holds_of
    changes = len(query.changes) > 0
    needed = list(dict.fromkeys(video_id for video_id, _, _ in candidates if (video_id, changes) not in holds_of))
    found_holds = each(lambda v: stored_holds(stored.get(v), settings, changes), needed, [0] * len(needed), 0)
    for video_id, held in zip(needed, found_holds):  # no line orders kept: every video in threads
        holds_of[(video_id, changes)] = held

    def one(item: Aligning) -> VideoMatch | None:
        video_id, candidate, plan = item
        holds, stored_changes = holds_of[(video_id, changes)]
        r_marks = change_marks(candidate.r_ts, stored_changes, settings) if len(stored_changes) else None
        alignment = align_planned(
            candidate.with_stored(holds, r_marks), plan, query.duration_s, durations_s[video_id], settings
        )
        return VideoMatch(video_id, alignment) if alignment is not None else None

    sizes = [len(candidate) for _, candidate, _ in candidates]  # a plan may read lines it had not found yet
    found = [m for m in each(one, candidates, sizes, len(candidate_speeds(settings))) if m is not None]
    found.sort(key=lambda m: (-m.alignment.score, -m.alignment.matched_s, m.video_id))
    return found
