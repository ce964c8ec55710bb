"""What a video's frames add to the frame index's coverage: their count, id sum, largest id and
digest (`vidtrace.digest`), kept on the video's row and written in the transaction that writes
its frames.

Opening the frame index compares what its file covers with what SQL holds. Summed over the
videos, these give what SQL holds from one row a video, where reading every frame's id and hash
costs a second a million frames. Videos stored before the sums were kept (None) are read from
their frames; a command that writes fills their sums in (`fill_missing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidtrace.digest import frame_mixes
from vidtrace.store.models import Frame, Video

_WORD = 1 << 64

#: The sums of a video without frames (a failed one), as its row's values.
NO_FRAMES = {"frame_count": 0, "frame_id_sum": 0, "frame_max_id": 0, "frame_digest": 0}


def signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed one SQL stores (the same bits)."""
    return value - _WORD if value >= _WORD // 2 else value


@dataclass(frozen=True)
class Sums:
    """Per stored video (arrays in the same order): its id and its frames' count, id sum,
    largest id and digest (unsigned 64-bit)."""

    video_ids: np.ndarray
    counts: np.ndarray
    id_sums: np.ndarray
    max_ids: np.ndarray
    digests: np.ndarray

    @staticmethod
    def of_frames(video_ids: np.ndarray, ids: np.ndarray, codes: np.ndarray) -> Sums:
        """The sums of each video among frames (their video, id and hash row)."""
        videos, which = np.unique(np.asarray(video_ids, dtype=np.int64), return_inverse=True)
        ids = np.asarray(ids, dtype=np.int64)
        n = len(videos)
        counts = np.bincount(which, minlength=n).astype(np.int64)
        id_sums, max_ids = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        np.add.at(id_sums, which, ids)  # in integers: a float sum would round past 2**53
        np.maximum.at(max_ids, which, ids)
        digests = np.zeros(n, dtype=np.uint64)
        np.add.at(digests, which, frame_mixes(ids, codes))  # wraps around: the sum mod 2**64
        return Sums(videos, counts, id_sums, max_ids, digests)

    @staticmethod
    def joined(parts: Sequence[Sums]) -> Sums:
        """The sums of disjoint sets of videos, or of one video's frames read in parts (its
        counts, id sums and digests add up, its largest id is the largest)."""
        if not parts:
            return Sums(*(np.zeros(0, dtype=t) for t in (np.int64,) * 4 + (np.uint64,)))
        video_ids = np.concatenate([p.video_ids for p in parts])
        videos, which = np.unique(video_ids, return_inverse=True)
        n = len(videos)
        counts, id_sums, max_ids = (np.zeros(n, dtype=np.int64) for _ in range(3))
        digests = np.zeros(n, dtype=np.uint64)
        np.add.at(counts, which, np.concatenate([p.counts for p in parts]))
        np.add.at(id_sums, which, np.concatenate([p.id_sums for p in parts]))
        np.maximum.at(max_ids, which, np.concatenate([p.max_ids for p in parts]))
        np.add.at(digests, which, np.concatenate([p.digests for p in parts]))
        return Sums(videos, counts, id_sums, max_ids, digests)

    def rows(self) -> list[dict]:
        """Each video's values for its row."""
        return [
            {"id": int(v), "frame_count": int(c), "frame_id_sum": int(s), "frame_max_id": int(m),
             "frame_digest": signed64(int(d))}
            for v, c, s, m, d in zip(self.video_ids, self.counts, self.id_sums, self.max_ids, self.digests)
        ]  # fmt: skip


def record(session: Session, video_id: int, ids: Sequence[int], hashes: Sequence[bytes]) -> None:
    """Write on the video's row the sums of the frames just written for it (all of them)."""
    if not ids:
        session.execute(update(Video).where(Video.id == video_id).values(**NO_FRAMES))
        return
    codes = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), -1)
    sums = Sums.of_frames(np.full(len(ids), video_id, dtype=np.int64), np.asarray(ids, dtype=np.int64), codes)
    session.execute(update(Video).where(Video.id == video_id).values(**_values(sums.rows()[0])))


def _values(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "id"}


def stored(session: Session, with_frames_only: bool = True) -> Sums:
    """The recorded sums of every video that has frames (or, unless `with_frames_only`, of
    every video whose sums are recorded)."""
    recorded = Video.frame_count > 0 if with_frames_only else Video.frame_count.is_not(None)
    rows = session.execute(
        select(Video.id, Video.frame_count, Video.frame_id_sum, Video.frame_max_id, Video.frame_digest).where(recorded)
    ).all()
    columns = [np.array(c, dtype=np.int64) for c in (zip(*rows) if rows else [()] * 5)]
    video_ids, counts, id_sums, max_ids, digests = columns
    return Sums(video_ids, counts, id_sums, max_ids, digests.view(np.uint64))


def any_unrecorded(session: Session) -> bool:
    """Whether some video's sums are not recorded."""
    return session.scalar(select(Video.id).where(Video.frame_count.is_(None)).limit(1)) is not None


def unrecorded():
    """The SQL condition on frames selecting those of videos whose sums are not recorded."""
    return Frame.video_id.in_(select(Video.id).where(Video.frame_count.is_(None)))


def fill_missing(session: Session, frame_batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> int:
    """Record the sums of the videos that have none, from their frames given as batches of
    (video ids, frame ids, hash rows) (`unrecorded` selects them); a video without frames gets
    zeros. Only rows still without sums are written (a writer that replaced a video's frames
    meanwhile wrote its own). Returns how many videos got sums."""
    sums = Sums.joined([Sums.of_frames(*batch) for batch in frame_batches])
    missing = set(session.scalars(select(Video.id).where(Video.frame_count.is_(None))))
    rows = [row for row in sums.rows() if row["id"] in missing]
    rows += [{"id": v, **NO_FRAMES} for v in sorted(missing - {row["id"] for row in rows})]
    for row in rows:
        session.execute(update(Video).where(Video.id == row["id"], Video.frame_count.is_(None)).values(**_values(row)))
    return len(rows)


def disagreeing(recorded: Sums, actual: Sums) -> list[int]:
    """The videos among `recorded` whose sums are not those of their frames (`actual`, the sums
    read from every frame: a video without frames is absent from it)."""
    truth = {int(v): k for k, v in enumerate(actual.video_ids)}
    out = []
    for k, video in enumerate(recorded.video_ids.tolist()):
        mine = (recorded.counts[k], recorded.id_sums[k], recorded.max_ids[k], recorded.digests[k])
        at = truth.get(video)
        real = (
            (0, 0, 0, 0)
            if at is None
            else (actual.counts[at], actual.id_sums[at], actual.max_ids[at], actual.digests[at])
        )
        if tuple(int(x) for x in mine) != tuple(int(x) for x in real):
            out.append(video)
    return out


def forget(session: Session, video_ids: Sequence[int]) -> None:
    """Mark the videos' sums as not recorded (to be read again from their frames)."""
    for video_id in video_ids:
        session.execute(update(Video).where(Video.id == video_id).values(**dict.fromkeys(NO_FRAMES)))
