"""Ingest and rescan: discover uploads, fingerprint new videos, store them, match them.

Every step commits as it goes, so a run that dies leaves whole videos behind (a video, its
frames and its sound print are written in one transaction) and the next run carries on where it stopped:
fingerprinted videos are known by their SHA-256, and a video is matched against everything
stored before it exactly once (`videos.matched_at`), or again by a rescan once the matching rules
change (`videos.match_version`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from vidtrace import networks, signals
from vidtrace.commits import COMMIT_EVERY_S, Commits  # noqa: F401  (COMMIT_EVERY_S: importable from here)
from vidtrace.errors import InputError, UsageError
from vidtrace.fingerprint import VideoFingerprint, fingerprint_file
from vidtrace.index.sounds import SoundIndex, sound_index_path
from vidtrace.index.sounds import synced as synced_sound
from vidtrace.index.sync import save_index, synced_index
from vidtrace.interrupts import Interrupts
from vidtrace.match_service import NewFrames, match_unmatched
from vidtrace.progress import Progress
from vidtrace.progress import silent as _noop
from vidtrace.results.matches import Failure, ScanSummary
from vidtrace.settings import Settings
from vidtrace.sound import SoundPrint
from vidtrace.spec import MATCH_VERSION
from vidtrace.store import repo
from vidtrace.store.db import Store, scan_lock
from vidtrace.triage import COMMIT_EVERY, Pending, Uploads, sha256_file  # noqa: F401  (importable from here)
from vidtrace.workers import run_jobs

log = logging.getLogger(__name__)


@dataclass
class Fingerprints:
    """What the fingerprint job makes of one file: its frame hashes and its sound print (None:
    no soundtrack)."""

    pictures: VideoFingerprint
    sound: SoundPrint | None


def _fingerprint_job(path: str, settings: Settings, on_frame=None) -> tuple[Fingerprints | None, str | None]:
    """Runs in a worker process: the file's fingerprints, or the reason there are none. A file
    whose audio fails to decode keeps its pictures, with the reason as a warning. `on_frame(ts_s,
    duration_s)` hears of each decoded frame (in-process runs: progress within long files)."""
    try:
        pictures = fingerprint_file(Path(path), settings, on_frame)
    except InputError as e:
        return None, e.reason
    sound, problem = signals.sound_or_warning(Path(path), settings)
    if problem:
        pictures.warnings.append(problem)
    return Fingerprints(pictures, sound), None


class _Scan:
    """One ingest or rescan: triage of uploads (`vidtrace.triage`), fingerprints on the worker pool
    (`vidtrace.workers`), stored and committed (`vidtrace.commits`), then matching."""

    def __init__(
        self, store: Store, kind: str, sources: list[dict], settings: Settings, workers: int, progress: Progress,
        scheduler: str | None = None,
    ):  # fmt: skip
        self.store = store
        self.scheduler = scheduler
        self.kind = kind
        self.sources = sources
        self.settings = settings
        self.workers = max(1, workers)
        self.progress = progress
        self.session = store.session()
        self.interrupts = Interrupts()
        self.scan_id = repo.start_scan(self.session, kind, sources)
        self.session.commit()
        self.summary = ScanSummary(scan_id=self.scan_id, kind=kind)
        self.index = synced_index(store)
        with store.session() as session:
            self.sound_index, _ = synced_sound(session, SoundIndex.load(sound_index_path(store)))
        # A server database may have other writers: short transactions (one file, one video)
        # keep them from waiting on each other for long, or in a cycle.
        self.shared = not store.location.is_sqlite
        self.summary.resumed = self._resumed()
        self.uploads = Uploads(
            self.session, kind, sources, self.scan_id, self.summary, self.shared, self.fail, progress
        )
        self._pending_bytes: int | None = None  # size of the files to fingerprint (progress)
        self.new_frames: NewFrames | None = None  # this run's new videos' frames, for matching

    def fail(self, path: str, reason: str) -> None:
        """Record an input that failed; `path` in its text form (`vidtrace.discover.path_text`)."""
        log.error("%s: %s", path, reason)
        self.summary.failures.append(Failure(path, reason))

    def warn(self, path: str, reason: str) -> None:
        """Record a warning about an input that was stored; `path` in its text form."""
        self.summary.warnings.append(Failure(path, reason))

    # --- fingerprinting ---------------------------------------------------------------------

    def _announce(self, pending: dict[str, Pending], done: int, sha: str):
        """Progress: the file now fingerprinted; returns the callback for its decoded frames."""
        total = len(pending)
        if self._pending_bytes is None:
            self._pending_bytes = sum(p.size for p in pending.values())
        self.progress("fingerprinting", done, total, item=pending[sha].uploads[0][0].text,
                      item_bytes=pending[sha].size, total_bytes=self._pending_bytes)  # fmt: skip
        return lambda ts_s, duration_s: self.progress(
            "fingerprinting", done, total, item_s=ts_s, item_duration_s=duration_s
        )

    def fingerprint(self, pending: dict[str, Pending]) -> None:
        """Fingerprint the new contents on the worker pool; store and commit them as they come."""
        total = self.summary.to_fingerprint = len(pending)
        repo.set_scan_counts(self.session, self.scan_id, {"to_fingerprint": total})
        self.session.commit()
        commits = Commits(
            self.session, self.uploads, self.summary, self.interrupts, self.index, self.sound_index, self.shared,
            self.fail, self.warn,
        )  # fmt: skip
        results = run_jobs(
            _fingerprint_job, [(sha, str(p.uploads[0][0].path)) for sha, p in pending.items()], self.settings,
            skipped={sha: (None, "empty file (0 bytes)") for sha, p in pending.items() if p.size == 0},
            workers=self.workers, scheduler=self.scheduler, interrupts=self.interrupts,
            announce=lambda done, sha: self._announce(pending, done, sha),
        )  # fmt: skip
        commits.store_all(pending, results, self.progress)
        self.new_frames = commits.new_frames
        if self.summary.refingerprinted_videos:
            # Old frames and prints left SQL: the indexes are rebuilt from it (once per version change).
            self.index = synced_index(self.store)
            self.sound_index, _ = synced_sound(self.session, None)
            self.session.rollback()
        self.progress("fingerprinting", total, total)

    # --- matching ---------------------------------------------------------------------------

    def match_new(self) -> None:
        """Match the videos not matched yet (this scan's, and any an interrupted run left)."""
        self.summary.new_matches += match_unmatched(
            self.session, self.index, self.settings, self.scan_id, self.progress, self.sound_index,
            self.summary.warnings, fingerprints=self.new_frames, dropped=self.summary.dropped_matches,
        )  # fmt: skip

    def rules_changed(self) -> None:
        """A rescan matches the videos matched by older matching rules again; an ingest counts them."""
        if self.kind == "rescan":
            self.summary.rematched_videos = repo.unmatch_older_rules(self.session, MATCH_VERSION)
            self.session.commit()
            if self.summary.rematched_videos:
                log.info(
                    "%d video(s) matched by older matching rules: matching them again", self.summary.rematched_videos
                )
        else:
            self.summary.older_rules_videos = repo.count_matched_by_older_rules(self.session, MATCH_VERSION)
            self.session.rollback()

    # --- the whole run ----------------------------------------------------------------------

    def record_changes(self, before: networks.Snapshot) -> None:
        """Merges of content clusters (recorded) and what changed in clusters and groups."""
        change = networks.changes(before, networks.snapshot(self.session))
        repo.add_cluster_merges(self.session, self.scan_id, change.merges)
        self.session.commit()
        self.summary.new_clusters = change.new_clusters
        self.summary.merged_clusters = change.merges
        self.summary.new_groups = change.new_groups
        self.summary.grown_groups = change.grown_groups

    def _resumed(self) -> str | None:
        """What the run before this one kept, when it ended without finishing (interrupted, or
        killed: still "running" although this run holds the writer lock)."""
        previous = repo.previous_scan(self.session, self.scan_id)
        self.session.rollback()
        if previous is None or previous.status not in ("interrupted", "running"):
            return None
        if previous.status == "running" and self.shared:  # may be another writer, still at work
            return None
        kept = repo.count_videos_created(self.session, previous.started_at, previous.finished_at)
        self.session.rollback()
        total = previous.counts.get("to_fingerprint")
        how = "was interrupted" if previous.status == "interrupted" else "stopped without finishing"
        of = f" of {total}" if isinstance(total, int) else ""
        text = f"the {previous.kind} before (scan {previous.id}) {how}: kept {kept}{of} new video(s), resuming"
        log.info("%s", text)
        return text

    def run(self) -> ScanSummary:
        with self.interrupts:
            return self._run()

    def _run(self) -> ScanSummary:
        status = "interrupted"
        try:
            before = networks.snapshot(self.session)
            self.session.rollback()
            candidates, missing_roots = self.uploads.discover()
            pending = self.uploads.triage(candidates)
            self.fingerprint(pending)
            if self.kind == "rescan":
                self.uploads.mark_gone(candidates, missing_roots)
            self.rules_changed()
            self.match_new()
            self.record_changes(before)
            status = "partial" if self.summary.failures else "ok"
            return self.summary
        finally:
            with self.interrupts.held(then_raise=False):
                self._finish(status)

    def _save_sound_index(self) -> None:
        """Save the sound index as SQL has it (prints of videos a crash rolled back never enter)."""
        index, _ = synced_sound(self.session, self.sound_index)
        self.session.rollback()
        index.save(sound_index_path(self.store))

    def _finish(self, status: str) -> None:
        """Save the derived index files and record how the scan ended."""
        self.session.rollback()
        try:
            # Derived files (rebuilt from SQL when stale): a failed save (a full disk) still
            # ends with the scan recorded as finished, and then reports the fault.
            save_index(self.store, self.index)
            self._save_sound_index()
        finally:
            failed = [asdict(f) for f in self.summary.failures]  # which inputs failed, and why
            repo.finish_scan(self.session, self.scan_id, status, {**self.summary.counts(), "failed_inputs": failed})
            self.session.commit()
            self.session.close()


def ingest(
    store: Store,
    roots: list[Path],
    manifest: Path | None = None,
    settings: Settings | None = None,
    workers: int = 1,
    progress: Progress = _noop,
    scheduler: str | None = None,
    account: str | None = None,
) -> ScanSummary:
    """Add the uploads found under `roots` (accounts from folder names) and in `manifest`.

    A root that is a file is one upload: its account is `account`, else its yt-dlp sidecar's,
    else its folder's name.

    `scheduler` (tcp://host:port) spreads fingerprinting over a Dask cluster instead of `workers`
    local processes.
    """
    if not roots and manifest is None:
        raise UsageError("nothing to ingest: give a folder, a file or --manifest")
    for root in roots:
        if not Path(root).exists():
            raise UsageError(f"{root}: not found")
    if manifest is not None and not Path(manifest).is_file():
        raise UsageError(f"manifest {manifest} not found")
    # A folder is walked (accounts from its first level); a file given alone is one upload.
    sources = [
        {"root": str(Path(r).absolute()), "manifest": None} if Path(r).is_dir()
        else {"root": None, "manifest": None, "file": str(Path(r).absolute()), "account": account}
        for r in roots
    ]  # fmt: skip
    if manifest is not None:
        sources.append({"root": None, "manifest": str(Path(manifest).absolute())})
    with scan_lock(store.location):
        return _Scan(store, "ingest", sources, settings or Settings(), workers, progress, scheduler).run()


def rescan(
    store: Store,
    settings: Settings | None = None,
    workers: int = 1,
    progress: Progress = _noop,
    scheduler: str | None = None,
) -> ScanSummary:
    """Re-walk every folder and manifest ingested before: add what is new, mark what is gone, match."""
    with scan_lock(store.location):
        with store.session() as session:
            sources = repo.known_sources(session)
        if not sources:
            raise UsageError("nothing to rescan: no folder has been ingested into this store yet")
        return _Scan(store, "rescan", sources, settings or Settings(), workers, progress, scheduler).run()
