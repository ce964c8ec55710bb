"""What a scan commits of the fingerprinted files, and when.

A video, its frames, its sound print and its uploads are stored in one transaction. Videos are
committed in batches and at least every `COMMIT_EVERY_S`; their frames and prints join the
in-memory indexes only once committed, so a saved index never covers rows that a crash rolled
back. Storing and committing happen inside `Interrupts.held()`: Ctrl-C or SIGTERM commits every
video finished so far, then ends the scan (the next run resumes from there).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from vidtrace.discover import Candidate
from vidtrace.hashes import to_matrix
from vidtrace.interrupts import Interrupts
from vidtrace.match_service import NewFrames
from vidtrace.progress import Progress
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION, SoundPrint
from vidtrace.store import repo
from vidtrace.triage import Pending, Uploads

if TYPE_CHECKING:
    from vidtrace.scan import Fingerprints, ScanSummary

log = logging.getLogger(__name__)

#: Finished videos are committed at least this often (seconds), whatever the batch size: a run
#: killed outright (SIGKILL, a power cut) loses at most this much finished work.
COMMIT_EVERY_S = 2.0
#: (videos, frames) per commit on SQLite: one commit per video costs an fsync per clip on
#: collections of short clips; these (and the time) bound what a killed run has to redo.
BATCH_LIMITS = (50, 20_000)
#: (videos, frames) per commit on a server database, which may have other writers: short
#: transactions (one video) keep them from waiting on each other for long, or in a cycle.
SHARED_BATCH_LIMITS = (1, 1)


def _changed_since(c: Candidate, st: os.stat_result) -> bool:
    """Whether the file is gone or no longer the one hashed (size, time or inode changed)."""
    try:
        now = os.stat(c.path)
    except OSError:
        return True
    return (now.st_size, now.st_mtime_ns, now.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino)


class Commits:
    """Stores each fingerprinted content in the open transaction; commits by batch size and time.

    `fail(path_text, reason)` records a failed input, `warn(path_text, reason)` a warning; the
    counts go to `summary`. `index` and `sound_index` receive what each commit made durable.
    """

    def __init__(
        self, session, uploads: Uploads, summary: ScanSummary, interrupts: Interrupts, index, sound_index,
        shared: bool, fail: Callable[[str, str], None], warn: Callable[[str, str], None],
    ):  # fmt: skip
        self.session = session
        self.uploads = uploads
        self.summary = summary
        self.interrupts = interrupts
        self.index = index
        self.sound_index = sound_index
        self.fail = fail
        self.warn = warn
        self.max_videos, self.max_frames = SHARED_BATCH_LIMITS if shared else BATCH_LIMITS
        self._frames: list[tuple[list[int], object]] = []  # (frame ids, codes) waiting for the commit
        self._sounds: list[tuple[int, int, SoundPrint | None]] = []  # (print id, video id, print)
        #: the new videos' frames, kept for matching so that it need not read them back
        self.new_frames = NewFrames()
        self._videos_since = self._frames_since = 0
        self._last_commit = time.monotonic()

    # --- when ---------------------------------------------------------------------------------

    def _due(self) -> bool:
        return (
            self._videos_since >= self.max_videos or self._frames_since >= self.max_frames
            or time.monotonic() - self._last_commit >= COMMIT_EVERY_S
        )  # fmt: skip

    def commit(self) -> None:
        """Commit the open transaction, then add what it stored to the indexes."""
        with self.interrupts.held():
            self.session.commit()
            for frame_ids, codes in self._frames:
                self.index.add(frame_ids, codes)
            for print_id, video_id, sound in self._sounds:
                if sound is not None:
                    self.sound_index.add(print_id, video_id, sound.values)
            self._frames.clear()
            self._sounds.clear()
            self._videos_since = self._frames_since = 0
            self._last_commit = time.monotonic()

    def store_all(
        self, pending: dict[str, Pending], results: Generator[tuple[str, Any], None, None], progress: Progress
    ) -> None:  # fmt: skip
        """Store each (sha, (fingerprints or None, error or None)) of `results`, committing as it goes."""
        total = len(pending)
        try:
            for n, (sha, (found, error)) in enumerate(results, start=1):
                progress(
                    "fingerprinting",
                    n - 1,
                    total,
                    item_duration_s=found.pictures.duration_s if found is not None else None,
                )
                with self.interrupts.held():
                    frames = self._store(pending[sha], sha, found, error)
                    if frames is not None:
                        self._videos_since += 1
                        self._frames_since += frames
                    if self._due():
                        self.commit()
        except KeyboardInterrupt:
            results.close()  # stops the workers
            self.commit()  # every finished video
            log.info("interrupted: %d of %d new video(s) stored", self.summary.new_videos, total)
            raise
        self.commit()

    # --- what -----------------------------------------------------------------------------------

    def _store(self, item: Pending, sha: str, found: Fingerprints | None, error: str | None) -> int | None:
        """Store one fingerprinted content (or its failure) in the open transaction; the number
        of frames it added to the batch waiting for commit (None: nothing added)."""
        first = item.uploads[0][0]
        if _changed_since(*item.uploads[0]):
            # Read while it changed or vanished: store nothing; the next scan reads it again.
            for c, _ in item.uploads:
                self.fail(c.text, "file changed or disappeared while it was being read; not stored")
            return None
        if item.video_id is not None:
            self._refingerprinted(item.video_id, item, found, error)
            return None
        fingerprint = found.pictures if found is not None else None
        sound = found.sound if found is not None else None
        video_id, frame_ids, created = repo.add_video(self.session, sha, item.size, fingerprint, error)
        for c, st in item.uploads:
            self.uploads.link(video_id, c, st)
        if created and fingerprint is not None:
            print_id = self._store_sound(video_id, sound)
            codes = to_matrix([f.hash for f in fingerprint.frames], len(fingerprint.frames[0].hash))
            self._frames.append((frame_ids, codes))
            self.new_frames.remember(video_id, [(f.ts_s, f.hash, f.region) for f in fingerprint.frames])
            self._sounds.append((print_id, video_id, sound))
        if not created:  # another writer stored this content meanwhile (and its frames)
            log.info("%s: stored meanwhile by another writer", first.path)
        elif fingerprint is None:
            assert error is not None, "a content without fingerprints has the reason"
            for c, _ in item.uploads:
                self.fail(c.text, error)
        else:
            self.summary.new_videos += 1
            for warning in fingerprint.warnings:
                log.warning("%s: %s", first.path, warning)
                self.warn(first.text, warning)
        return len(frame_ids)

    def _store_sound(self, video_id: int, sound: SoundPrint | None) -> int:
        """Store a video's sound print (None: no soundtrack) in the transaction of its frames."""
        return repo.set_sound_print(self.session, video_id, sound, SOUND_ALGORITHM, SOUND_VERSION, SOUND_STEP_S)

    def _refingerprinted(self, video_id: int, item: Pending, found: Fingerprints | None, error: str | None) -> None:
        """Store a stored video's new fingerprints in place of its old ones (kept when this fails)."""
        path = item.uploads[0][0].text
        if found is None:
            self.fail(path, f"{error}; kept its fingerprint from an older version")
            return
        repo.replace_fingerprint(self.session, video_id, found.pictures)
        self._store_sound(video_id, found.sound)
        self.session.commit()
        for warning in found.pictures.warnings:
            self.warn(path, warning)
        self.summary.refingerprinted_videos += 1
        log.info("%s: fingerprinted again with %s v%s", path, HASH_ALGORITHM, HASH_VERSION)
