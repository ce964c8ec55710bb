"""Search and align: a video's frame hashes against the index, grouped into per-video matches.

Every stored video also has hashes of its mirrored content (`REGION_MIRROR`), so a horizontally
flipped copy hits them; a query's own mirrors search the stored crops only (a copy flipped and
cropped). A hit carries the edits that explain it: "mirrored" when one side is a mirror,
"padded" when exactly one side had padding removed, "cropped" when one side is the zoomed-in
region of the other, "reframed" when one side is the 9:16 (16:9) centre of the other, "picture
in picture" when one side is an inset over another video. Alignment keeps the edits most of a segment's frames share, plus the speed
change.

Pure: the query's hashes, times and regions, an index to search and a table of stored frames
come in as values (`vidtrace.match_service` reads them from the store and writes the results);
each candidate's kept hits come out, to be aligned (`vidtrace.candidates`). Several queries are
searched in one pass (`search`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vidtrace.hashes import to_matrix
from vidtrace.held import change_marks, held_changes, held_spans
from vidtrace.region_pairs import (  # noqa: F401  (the edits' names are importable from here)
    CROPPED,
    INSET,
    MIRRORED,
    PADDED,
    REFRAMED,
    plausible,
    region_edits,
)
from vidtrace.results.matches import VideoMatch  # noqa: F401  (matches come out as these)
from vidtrace.settings import Settings
from vidtrace.spec import REGION_FRAME, REGION_LAST


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
class KeptHits:
    """One stored video's kept hits, as arrays (query row, stored time and region, bits)."""

    rows: list[np.ndarray] = field(default_factory=list)
    r_ts: list[np.ndarray] = field(default_factory=list)
    r_regions: list[np.ndarray] = field(default_factory=list)
    dists: list[np.ndarray] = field(default_factory=list)

    def joined(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(parts) for parts in (self.rows, self.r_ts, self.r_regions, self.dists))


#: The largest frame id `FrameTable` indexes densely (4 bytes an id up to it: 256 MB at most);
#: past it (a store whose ids reach that far), ids are found by binary search in a sorted copy.
MAX_DENSE_FRAME_ID = 1 << 26


class FrameTable:
    """Stored frames met so far (id -> video, time, region), as arrays: a still video's hits name
    the same frames over and over, and millions of ids are looked up at once. Each id's position
    in the arrays is kept in an array indexed by the id (frame ids are the store's row numbers,
    about as many as its frames), so a lookup is one gather, never a sort. `load` reads the frames
    it does not hold yet: (ids, video ids, times, regions) of those that exist."""

    #: positions: not read yet (read and absent: -1)
    _UNREAD = -2

    def __init__(self, load: FrameLoader) -> None:
        self.load = load
        self.videos, self.ts, self.regions = (np.zeros(0, dtype=t) for t in (np.int64, np.float64, np.int64))
        self._at = np.full(0, self._UNREAD, dtype=np.int32)
        self._sorted_ids = np.zeros(0, dtype=np.int64)  # past MAX_DENSE_FRAME_ID: ids read, sorted
        self._sorted_at = np.zeros(0, dtype=np.int64)  # their positions (-1: absent)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Positions of `ids` in the table (-1: no such frame stored), reading the new ones."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        negative = ids < 0  # no frame has such an id (an index's "no result")
        if negative.any():
            out = np.full(len(ids), -1, dtype=np.int64)
            out[~negative] = self.lookup(ids[~negative])
            return out
        at = self._positions(ids)
        unread = at == self._UNREAD
        if unread.any():
            self._read(np.unique(ids[unread]))
            at = self._positions(ids)
        return at

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        if int(ids.max()) <= MAX_DENSE_FRAME_ID:
            return self._dense(ids)
        out = np.full(len(ids), self._UNREAD, dtype=np.int64)
        dense = ids <= MAX_DENSE_FRAME_ID
        if dense.any():
            out[dense] = self._dense(ids[dense])
        if len(self._sorted_ids):
            far = ids[~dense]
            k = np.minimum(np.searchsorted(self._sorted_ids, far), len(self._sorted_ids) - 1)
            out[~dense] = np.where(self._sorted_ids[k] == far, self._sorted_at[k], self._UNREAD)
        return out

    def _dense(self, ids: np.ndarray) -> np.ndarray:
        top = int(ids.max())
        if top >= len(self._at):
            size = min(max(top + 1, 2 * len(self._at), 1024), MAX_DENSE_FRAME_ID + 1)
            self._at = np.concatenate([self._at, np.full(size - len(self._at), self._UNREAD, dtype=np.int32)])
        return self._at[ids].astype(np.int64)

    def _read(self, new: np.ndarray) -> None:
        loaded_ids, videos, ts, regions = self.load(new.tolist())
        read_ids = np.asarray(loaded_ids, dtype=np.int64)
        where = np.full(len(new), -1, dtype=np.int64)
        where[np.searchsorted(new, read_ids)] = len(self.videos) + np.arange(len(read_ids))
        self.videos, self.ts, self.regions = (
            np.concatenate([old, np.asarray(add, old.dtype)])
            for old, add in ((self.videos, videos), (self.ts, ts), (self.regions, regions))
        )
        dense = new <= MAX_DENSE_FRAME_ID
        self._at[new[dense]] = where[dense]
        if not dense.all():
            ids = np.concatenate([self._sorted_ids, new[~dense]])
            order = np.argsort(ids, kind="stable")
            self._sorted_ids, self._sorted_at = ids[order], np.concatenate([self._sorted_at, where[~dense]])[order]


FrameLoader = Callable[[list[int]], tuple[Sequence[int], Sequence[int], Sequence[float], Sequence[int]]]
#: Given stored video ids met for the first time, the ones that may match (stored "ok", accepted).
Judge = Callable[[list[int]], set[int]]


class Searchable(Protocol):
    def search_arrays(self, codes: np.ndarray, max_distance_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Query:
    """A video's searched pictures (stored-only regions left out), with their held spans and the
    changes between held pictures."""

    ts_s: list[float]
    codes: np.ndarray
    regions: list[int] | None  # None: unknown
    q_regions: np.ndarray  # REGION_FRAME where unknown
    held_s: np.ndarray
    changes: np.ndarray
    marks: np.ndarray  # each row's change (`held.change_marks`; NaN: none)
    duration_s: float


def prepare(
    ts_s: Sequence[float], hashes: Sequence[bytes] | np.ndarray, duration_s: float, settings: Settings,
    regions: Sequence[int] | None = None,
) -> Query | None:  # fmt: skip
    """The query of a video's frames (None: nothing to search): their times, hashes (bytes, or
    rows of a matrix) and, when known, regions (`fingerprint.REGION_*`), in time order."""
    if len(hashes) == 0:
        return None
    codes = (
        np.ascontiguousarray(hashes, dtype=np.uint8)
        if isinstance(hashes, np.ndarray)
        else to_matrix(list(hashes), len(hashes[0]))
    )
    used_ts = [float(t) for t in ts_s]
    used_regions = [int(r) for r in regions] if regions is not None else None
    q_held = held_spans(used_ts, codes, used_regions, settings)
    # A change between held pictures needs held pictures: most videos have none to look for.
    held_any = bool((q_held > settings.max_echo_span_s).any())
    q_changes = held_changes(used_ts, codes, used_regions, settings) if held_any else np.zeros(0)
    q_regions = np.asarray(used_regions if used_regions is not None else [REGION_FRAME] * len(used_ts))
    marks = change_marks(used_ts, q_changes, settings)
    return Query(used_ts, codes, used_regions, q_regions, q_held, q_changes, marks, duration_s)


#: The number of pictures searched at once grows while their hits stay under this, and shrinks
#: when they pass it.
_CHUNK_HITS = 1_000_000


@dataclass
class _Pictures:
    """One query's distinct (region, hash) pictures, and the query rows showing each."""

    query: Query
    rows_of: np.ndarray
    row_counts: np.ndarray
    first_row: np.ndarray
    excluded: np.ndarray | None
    kept: int = 0
    found: dict[int, KeptHits] | MatchBudgetExceeded | None = field(default_factory=lambda: defaultdict(KeptHits))


def _pictures(query: Query, excluded: set[int] | None) -> tuple[_Pictures, np.ndarray]:
    keyed = np.concatenate([query.q_regions.astype(np.uint8)[:, None], query.codes], axis=1)
    unique, inverse = np.unique(keyed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    row_counts = np.bincount(inverse, minlength=len(unique))
    ids = None if excluded is None else np.fromiter(excluded, dtype=np.int64, count=len(excluded))
    return _Pictures(
        query, np.argsort(inverse, kind="stable"), row_counts, np.cumsum(row_counts) - row_counts, ids
    ), unique


def search(
    index: Searchable, queries: Sequence[Query], table: FrameTable, judge: Judge, settings: Settings,
    excluded: Sequence[set[int] | None] | None = None, batch_hits: int | None = None,
) -> list[dict[int, KeptHits] | MatchBudgetExceeded | None]:  # fmt: skip
    """Each query's hits per stored video that `judge` accepts (and, per query, that are not in
    its `excluded` set), reduced per picture (`reduce_hits`) as they come; all queries searched together.

    Pictures with the same hash and region are searched once per query: a still video's thousands
    of identical pictures cost one search, and their hits are only multiplied out once reduced. A
    query whose kept hits pass `MAX_KEPT_HITS` gets the `MatchBudgetExceeded` to raise; with
    `batch_hits`, the queries after the first whose hits take the total past it get None.
    """
    excluded = excluded or [None] * len(queries)
    parts = [_pictures(q, e) for q, e in zip(queries, excluded)]
    states = [p for p, _ in parts]
    unique = np.concatenate([u for _, u in parts]) if parts else np.zeros((0, 1), np.uint8)
    owner = np.repeat(np.arange(len(parts)), [len(u) for _, u in parts])
    base = np.cumsum([0] + [len(u) for _, u in parts])
    accepted: set[int] = set()
    judged: set[int] = set()
    total = 0
    start, size = 0, SEARCH_CHUNK_ROWS
    while start < len(unique):
        chunk = unique[start : start + size]
        u_rows, ids, dists = index.search_arrays(np.ascontiguousarray(chunk[:, 1:]), settings.max_distance_bits)
        chunk_start, start = start, start + len(chunk)
        size = (
            max(8, size // 2)
            if len(ids) > _CHUNK_HITS
            else min(4096, size * 2)
            if len(ids) < _CHUNK_HITS // 8
            else size
        )
        if len(ids) == 0:
            continue
        at = table.lookup(ids.astype(np.int64))
        known = at >= 0
        u_rows, dists, at = u_rows[known], dists[known], at[known]
        vids = table.videos[at]
        new_vids = [v for v in np.unique(vids).tolist() if v not in judged]
        judged.update(new_vids)
        accepted |= judge(new_vids)
        ok = np.isin(vids, np.fromiter(accepted, dtype=np.int64, count=len(accepted)))
        ok &= _PLAUSIBLE[chunk[u_rows, 0].astype(np.int64), table.regions[at]]
        u_rows, dists, at, vids = (
            u_rows[ok].astype(np.int64) + chunk_start,
            dists[ok].astype(np.int64),
            at[ok],
            vids[ok],
        )
        for k, mine in split_by_key(owner[u_rows]):
            state = states[k]
            if not isinstance(state.found, dict):
                continue
            if state.excluded is not None:
                mine = mine[~np.isin(vids[mine], state.excluded)]
            total += _keep(
                state, u_rows[mine] - base[k], dists[mine], table.ts[at[mine]], table.regions[at[mine]], vids[mine]
            )
            if batch_hits is not None and total > batch_hits:  # the first query is kept whole, as alone
                for later in states[max(k, 1) :]:
                    later.found = later.found if isinstance(later.found, MatchBudgetExceeded) else None
        if start >= len(unique) or not any(isinstance(s.found, dict) for s in states[owner[start] :]):
            break  # no query left that keeps hits
    return [s.found for s in states]


def split_by_key(keys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Each distinct key (ascending) with the positions holding it (in their order): one sort,
    where a mask per key costs the whole array again for each of many keys."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for part in np.split(order, cuts) if len(order) else []:
        yield int(keys[part[0]]), part


def _keep(
    state: _Pictures, u_rows: np.ndarray, dists: np.ndarray, r_ts: np.ndarray, r_regions: np.ndarray, vids: np.ndarray
) -> int:
    """Reduce one query's hits of one chunk of its pictures and add them to what it keeps; how
    many were added (0 when the query passed its budget, which it then holds instead)."""
    if len(vids) == 0:
        return 0
    _, video_number = np.unique(vids, return_inverse=True)
    groups = u_rows * (int(video_number.max()) + 1) + video_number.ravel()
    kept = reduce_hits(groups, r_ts, MAX_HITS_PER_PICTURE, len(state.query.changes) > 0)
    u = u_rows[kept]
    # Every query row with this picture's hash and region gets its hits.
    times = state.row_counts[u]
    added = int(times.sum())
    state.kept += added
    if state.kept > MAX_KEPT_HITS:
        state.found = MatchBudgetExceeded(
            f"more than {MAX_KEPT_HITS:,} frame hits after collapsing held pictures; left unmatched"
        )
        return -(state.kept - added)
    hit_of = np.repeat(np.arange(len(kept)), times)
    offsets = np.arange(len(hit_of)) - np.repeat(np.cumsum(times) - times, times)
    rows = state.rows_of[state.first_row[u][hit_of] + offsets]
    pick = kept[hit_of]
    kept_vids, kept_ts, kept_regions, kept_dists = vids[pick], r_ts[pick], r_regions[pick], dists[pick]
    found = state.found
    assert isinstance(found, dict), "only a query still keeping hits is given more"
    for v, mine in split_by_key(kept_vids):
        h = found[v]
        h.rows.append(rows[mine])
        h.r_ts.append(kept_ts[mine])
        h.r_regions.append(kept_regions[mine])
        h.dists.append(kept_dists[mine])
    return added
