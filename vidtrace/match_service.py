"""Matching against the store: what `vidtrace.matching` needs read from SQL, and its matches written back.

The pure search and alignment (`vidtrace.matching`) get the query's hashes, the index, the stored
frames its hits name and the candidates' frames as values; `vidtrace.picture_search` reads those
(the candidates' frames in one query), and this module claims the videos to match, stores the
matches and keeps the match order. Ingest, rescan, import, doctor and lookup all match through it.
New videos' frames that the caller still holds (`NewFrames`) are not read back.

New videos are matched in batches (`match_unmatched`): the pictures of up to
`MATCH_BATCH_VIDEOS` of them are searched in one pass, each against the videos matched before it,
and their candidates' frames are read once; the stored frames their hits meet are read once for
the whole pass (`MAX_TABLE_FRAMES`). Each video still takes its place in the match order
and commits with its matches one at a time, and a batch's result is used only while the matched
videos and the index are what the batch was searched against (else that video is searched alone).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from vidtrace.index.sounds import SoundIndex
from vidtrace.index.sounds import catch_up as sound_catch_up
from vidtrace.index.sounds import synced as synced_sound
from vidtrace.matching import FrameTable, MatchBudgetExceeded, prepare
from vidtrace.picture_search import Accept, Result, find_matches, frame_table, match_pictures  # noqa: F401
from vidtrace.progress import Progress
from vidtrace.progress import silent as _noop
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION, Settings
from vidtrace.spec import MATCH_VERSION
from vidtrace.store import repo
from vidtrace.store.matched import MatchedVideos

log = logging.getLogger(__name__)

#: New videos whose pictures are searched in one pass (and whose candidates' frames are read in
#: one query) while they are matched in turn.
MATCH_BATCH_VIDEOS = 64
#: A batch keeps at most this many hits over all its videos (about 70 MB of arrays); the videos
#: whose hits come after are searched alone, when their turn comes.
MATCH_BATCH_HITS = 2_000_000

#: The stored frames met while matching (`picture_search.frame_table`: about 30 bytes each) are
#: kept from one batch to the next up to this many; past it, a batch starts a table of its own.
MAX_TABLE_FRAMES = 4_000_000

#: New videos' frames kept in memory for their matching (`remember`), at most this many in all:
#: about 20 bytes each.
MAX_REMEMBERED_FRAMES = 2_000_000

#: A video's frames: times, hashes (bytes, or the rows of a matrix) and regions, in time order.
Frames = tuple[Sequence[float], Sequence[bytes] | np.ndarray, Sequence[int]]


class NewFrames(dict):
    """New videos' frames held in memory for `match_unmatched` (video id -> `Frames`), at most
    `MAX_REMEMBERED_FRAMES` in all; the others are read back from the store."""

    count = 0

    def remember(self, video_id: int, frames: Sequence[tuple[float, bytes, int]]) -> None:
        """Keep a new video's frames (ts, hash, region) compactly, in the order the store reads
        them back (by time, then as stored)."""
        if not frames or self.count + len(frames) > MAX_REMEMBERED_FRAMES:
            return
        order = sorted(range(len(frames)), key=lambda k: frames[k][0])
        ts = np.array([frames[k][0] for k in order], dtype=np.float64)
        codes = np.frombuffer(b"".join(frames[k][1] for k in order), dtype=np.uint8).reshape(len(frames), -1)
        self[video_id] = (ts, codes, np.array([frames[k][2] for k in order], dtype=np.int16))
        self.count += len(frames)


# --- new videos, in match order ---------------------------------------------------------------


@dataclass
class _Batch:
    """The pictures' matches of the next videos to match, each searched against the videos matched
    before it (those matched when the batch began and the batch's videos before it)."""

    results: dict[int, tuple[int, list[int], Result]] = field(default_factory=dict)
    index_size: int = -1
    pending: list[int] = field(default_factory=list)  # videos to match after these, in order
    #: the frames of new videos still in memory (see `match_unmatched`), taken when searched
    fingerprints: dict[int, Frames] = field(default_factory=dict)
    #: videos searched together next time: as many as fitted the hit budget, back to one when a
    #: result could not be used (other writers matching meanwhile), doubling while all fit
    size: int = field(default_factory=lambda: MATCH_BATCH_VIDEOS)
    #: the stored frames met by the batches so far (frames never change once stored)
    table: FrameTable | None = None

    def take(self, video_id: int, matched: MatchedVideos) -> Result:
        """The batch's result for `video_id` while it was searched against exactly the videos
        matched now, in the same index (else None: search it alone)."""
        entry = self.results.pop(video_id, None)
        if entry is None:
            return None
        matched_count, earlier, result = entry
        if (
            len(matched.index) != self.index_size
            or len(matched.ids) != matched_count
            or not all(v in matched.ids for v in earlier)
        ):
            self.size = 1
            return None
        return result

    def fill(self, session: Session, video_id: int, matched: MatchedVideos, settings: Settings) -> None:
        """Search `video_id` and the videos waiting after it together (its batch)."""
        if video_id not in self.pending:
            self.pending = sorted(set(repo.ok_video_ids(session)) - matched.ids)
        if video_id in self.pending:
            at = self.pending.index(video_id)
            batch, self.pending = self.pending[at : at + self.size], self.pending[at + self.size :]
        else:
            batch = [video_id]
        videos = repo.videos_by_id(session, batch)
        frames: dict[int, Frames] = dict(
            repo.frames_of_videos(session, [v for v in batch if v not in self.fingerprints])
        )
        frames.update((v, self.fingerprints.pop(v)) for v in batch if v in self.fingerprints)
        queries = []
        for v in batch:
            ts_s, hashes, regions = frames.get(v, ([], [], []))
            queries.append(prepare(ts_s, hashes, videos[v].duration_s or 0.0, settings, regions))
        base, members = set(matched.ids), set(batch)
        if self.table is None or len(self.table.videos) > MAX_TABLE_FRAMES:
            self.table = frame_table(session)
        found = match_pictures(
            session, matched.index, queries, settings, accept=lambda other: other.id in base or other.id in members,
            excluded=[set(batch[k:]) for k in range(len(batch))], batch_hits=MATCH_BATCH_HITS, table=self.table,
        )  # fmt: skip
        self.index_size = len(matched.index)
        self.results = {v: (len(base) + k, batch[:k], result) for k, (v, result) in enumerate(zip(batch, found))}
        # As many as fitted in the hit budget next time, or twice as many when all did.
        fitted = next((k for k, result in enumerate(found) if result is None and queries[k] is not None), None)
        self.size = min(MATCH_BATCH_VIDEOS, 2 * len(batch)) if fitted is None else max(1, fitted)


def _matches_of(
    session: Session, indexes: dict, video_id: int, settings: Settings, among: set[int], pictures: Result = None
) -> list:
    """Every signal's matches of a stored video among `among`; `pictures`: its pictures' matches
    when already found (a `MatchBudgetExceeded` is raised)."""
    from vidtrace import signals

    if isinstance(pictures, MatchBudgetExceeded):
        raise pictures
    video = repo.videos_by_id(session, [video_id])[video_id]
    known = {signals.PICTURES: pictures} if pictures is not None else {}
    queries = {s.name: s.stored_query(session, video_id) for s in signals.SIGNALS if s.name not in known}
    return signals.match_video(
        session, indexes, queries, video.duration_s or 0.0, settings, accept=lambda other: other.id in among, found=known
    )  # fmt: skip


def _budget_reason(e: Exception) -> str:
    return str(e) or "its hits exceed the memory budget of matching; left unmatched"


def match_unmatched(
    session, index, settings: Settings, scan_id: int | None, progress: Progress = _noop,
    sound_index: SoundIndex | None = None, warnings: list | None = None, fingerprints: dict[int, Frames] | None = None,
    dropped: list[int] | None = None,
) -> list[int]:  # fmt: skip
    """Match every not-yet-matched video against all videos matched before it; new match ids.

    Every signal is searched (`vidtrace.signals`): `index` is the frame index, `sound_index` the
    sound index (built from SQL when not given). Writers sharing a database claim different
    videos and search them at once; the short last step, which gives a video its place in the
    match order, is serialised and also searches the videos that others matched meanwhile, so
    every pair is matched exactly once. Each video commits with its matches, so an interrupted
    pass resumes where it stopped. A video whose hits exceed the memory budget of matching is
    marked matched without matches, with the reason (stored, and added to `warnings` as a
    `scan.Failure`). The pictures of the videos waiting are searched in batches (`_Batch`).

    `fingerprints`: the frames of new videos (`NewFrames`)
    that the caller still holds in memory: those are not read back from the store.

    A video matched again (by newer matching rules, `unmatch_older_rules`) keeps each stored match
    with a video it was matched against that is found again (its id too, not counted as new); the
    others are deleted, their ids added to `dropped`. Its matches with videos still waiting stay
    until their turn. Each video records the version of the rules it was matched by.
    """
    from vidtrace import signals

    if sound_index is None:
        sound_index, _ = synced_sound(session, None)
    indexes = {signals.PICTURES: index, signals.SOUND: sound_index}
    new: list[int] = []
    total = repo.count_videos_to_match(session)
    matched = MatchedVideos(session, index)
    sound_catch_up(session, sound_index, matched.ids)  # then only the videos matched since
    session.commit()
    batch = _Batch(fingerprints=dict(fingerprints or {}))
    done = 0
    while (video_id := repo.claim_video_to_match(session)) is not None:
        progress("matching", done, max(total, done + 1), ready=done + len(batch.results))
        sound_catch_up(session, sound_index, set(matched.catch_up(session)))
        try:
            pictures = batch.take(video_id, matched)
            if pictures is None:
                batch.fill(session, video_id, matched, settings)
                progress("matching", done, max(total, done + 1), ready=done + len(batch.results))
                pictures = batch.take(video_id, matched)
            against = set(matched.ids)
            found = _matches_of(session, indexes, video_id, settings, against, pictures)
            repo.lock_match_order(session)
            late = matched.catch_up(session)
            if late:
                sound_catch_up(session, sound_index, set(late))
                found += _matches_of(session, indexes, video_id, settings, set(late))
                against |= set(late)
        except MatchBudgetExceeded as e:  # raised while searching: nothing written yet
            repo.lock_match_order(session)
            reason = _budget_reason(e)
            log.warning("video %d: %s", video_id, reason)
            if warnings is not None:
                from vidtrace.results.matches import Failure

                warnings.append(Failure(_video_label(session, video_id), reason))
            repo.mark_unmatched(session, video_id, reason, MATCH_VERSION)
            sound_catch_up(session, sound_index, set(matched.catch_up(session)))
            session.commit()
            done += 1
            continue
        before = repo.matches_of_video(session, video_id)  # by older rules, when matched again
        before_ids = {match_id for _, match_id in before}
        for m in found:
            match_id = repo.add_match(
                session, video_id, m.video_id, m.alignment, HASH_ALGORITHM, HASH_VERSION, scan_id, m.signals, m.kind
            )  # fmt: skip
            if match_id not in before_ids:
                new.append(match_id)
        found_ids = {m.video_id for m in found}
        gone = [match_id for other, match_id in before if other in against and other not in found_ids]
        repo.delete_matches(session, gone)
        if dropped is not None:
            dropped.extend(gone)
        repo.mark_matched(session, video_id, MATCH_VERSION)
        # this video, its frames and sound now in the indexes
        sound_catch_up(session, sound_index, set(matched.catch_up(session)))
        session.commit()
        done += 1
    progress("matching", done, done)
    return new


def _video_label(session, video_id: int) -> str:
    """A video's first upload's path (what a warning names), else `video N`."""
    uploads = repo.uploads_of_videos(session, [video_id]).get(video_id)
    return uploads[0].path if uploads else f"video {video_id}"
