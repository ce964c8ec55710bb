"""Ingest and rescan: discover uploads, fingerprint new videos, store them, match them.

Every step commits as it goes, so a run that dies leaves whole videos behind (a video, its
frames and its sound print are written in one transaction) and the next run carries on where it stopped:
fingerprinted videos are known by their SHA-256, and a video is matched against everything
stored before it exactly once (`videos.matched_at`).
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import hashlib
import logging
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from vidtrace import networks, sidecars, signals
from vidtrace.distributed import run_on_cluster
from vidtrace.discover import Candidate, path_text, read_manifest, text_path, walk_root
from vidtrace.errors import InputError, UsageError
from vidtrace.fingerprint import VideoFingerprint, fingerprint_file
from vidtrace.hashes import to_matrix
from vidtrace.interrupts import Interrupts, worker_init
from vidtrace.match_service import match_unmatched
from vidtrace.progress import Progress, silent as _noop
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION, Settings
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION, SoundPrint
from vidtrace.sound_index import SoundIndex, sound_index_path, synced as synced_sound
from vidtrace.store import repo
from vidtrace.store.db import Store, scan_lock
from vidtrace.store.index_sync import save_index, synced_index

log = logging.getLogger(__name__)

#: Uploads of already-known videos are committed in batches of this many files.
COMMIT_EVERY = 200
#: Finished videos are committed at least this often (seconds), whatever the batch size: a run
#: killed outright (SIGKILL, a power cut) loses at most this much finished work.
COMMIT_EVERY_S = 2.0


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass
class ScanSummary:
    scan_id: int
    kind: str
    files: int = 0
    new_videos: int = 0
    new_uploads: int = 0
    moved_uploads: int = 0
    unchanged_uploads: int = 0
    gone_uploads: int = 0
    returned_uploads: int = 0
    refingerprinted_videos: int = 0
    sidecar_uploads: int = 0  # files whose account, time, URL and title came from a yt-dlp .info.json
    new_matches: list[int] = field(default_factory=list)
    new_upload_ids: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    new_clusters: list[int] = field(default_factory=list)
    merged_clusters: list[tuple[int, int]] = field(default_factory=list)
    new_groups: list[tuple[str, ...]] = field(default_factory=list)
    grown_groups: list[tuple[str, ...]] = field(default_factory=list)
    #: files in a folder a manifest covers that the manifest does not name (ingested with file times)
    not_in_manifest: list[str] = field(default_factory=list)
    #: new contents this run set out to fingerprint
    to_fingerprint: int = 0
    #: what the interrupted run before this one kept, when this run resumes its work
    resumed: str | None = None

    def counts(self) -> dict:
        data = asdict(self)
        for key in ("new_matches", "failures", "warnings", "new_clusters", "merged_clusters", "new_groups", "grown_groups", "not_in_manifest"):
            data[key] = len(data[key])
        del data["scan_id"], data["kind"], data["new_upload_ids"], data["resumed"]
        return data


@dataclass
class _Pending:
    """A new distinct content (by SHA-256) waiting to be fingerprinted, with its uploads."""

    size: int
    uploads: list[tuple[Candidate, os.stat_result]]
    #: set for a stored video fingerprinted by an older hash version: fingerprint it again
    video_id: int | None = None


def _stale(video: repo.VideoRecord) -> bool:
    """A video of this store hashed by another algorithm version, or whose sound print is missing
    or of another version (imported ones are their source's)."""
    if video.status != "ok" or video.source is not None:
        return False
    return (video.algorithm, video.algorithm_version) != (HASH_ALGORITHM, HASH_VERSION) or video.sound != (
        SOUND_ALGORITHM,
        SOUND_VERSION,
    )


@dataclass
class Fingerprints:
    """What the fingerprint job makes of one file: its frame hashes and its sound print (None:
    no soundtrack)."""

    pictures: VideoFingerprint
    sound: SoundPrint | None


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _os_reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _changed_since(c: Candidate, st: os.stat_result) -> bool:
    """Whether the file is gone or no longer the one hashed (size, time or inode changed)."""
    try:
        now = os.stat(c.path)
    except OSError:
        return True
    return (now.st_size, now.st_mtime_ns, now.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino)


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
        self._pending_bytes: int | None = None  # size of the files to fingerprint (progress)

    # --- discovery --------------------------------------------------------------------------

    def discover(self) -> tuple[list[Candidate], set[str]]:
        """Candidates from every source, and the root folders that could not be walked.

        A manifest describes the files it names: a file found both in a walked folder and in a
        manifest is taken from the manifest (its account, posting time, URL and title win over
        the folder name and the file time). Files in a folder that a manifest covers (the
        manifest's folder and the walked folder overlap) but that no manifest names are
        ingested with their file times and listed in `ScanSummary.not_in_manifest`.
        """
        manifests = self._read_manifests()
        named = {os.path.realpath(c.path) for found in manifests.values() for c in found}
        manifest_dirs = [Path(m).parent.resolve() for m in manifests]
        seen: set[tuple[str, str | None]] = set()
        candidates: list[Candidate] = []
        missing_roots: set[str] = set()
        for source in self.sources:
            found: list[Candidate] = []
            if source.get("root"):
                root = Path(source["root"])
                if not root.is_dir():
                    self.fail(str(root), "folder not found or not a folder; its uploads are not marked gone")
                    missing_roots.add(str(root))
                    continue
                problems: list = []
                walked = list(walk_root(root, problems))
                found = [c for c in walked if os.path.realpath(c.path) not in named]
                found, described = sidecars.describe_all(found, problems)  # yt-dlp's .info.json
                self.summary.sidecar_uploads += described
                for problem in problems:  # links leading out of the folder, unusable sidecars: reported
                    self.fail(problem.where, problem.reason)
                real_root = root.resolve()
                covered = any(d.is_relative_to(real_root) or real_root.is_relative_to(d) for d in manifest_dirs)
                if covered:  # named by no manifest and described by no sidecar: file times only
                    self.summary.not_in_manifest += [path_text(c.path) for c in found if c.uploaded_at is None]
            if source.get("file"):
                if self.kind == "rescan" and not os.path.lexists(source["file"]):
                    continue  # gone since: marked gone below
                if os.path.realpath(source["file"]) in named:
                    continue  # the manifest's row describes it
                found, problems, described = sidecars.single_file(Path(source["file"]), source.get("account"))
                self.summary.sidecar_uploads += described
                for problem in problems:
                    self.fail(problem.where, problem.reason)
            if source.get("manifest"):
                found = manifests.get(source["manifest"], [])
            for candidate in found:
                key = (str(candidate.path), candidate.account)
                if key not in seen:
                    seen.add(key)
                    candidates.append(candidate)
        return candidates, missing_roots

    def _read_manifests(self) -> dict[str, list[Candidate]]:
        """Each readable manifest source's candidates; its bad rows reported."""
        out: dict[str, list[Candidate]] = {}
        for source in self.sources:
            if not source.get("manifest"):
                continue
            try:
                found, problems = read_manifest(Path(source["manifest"]))
            except UsageError as e:
                if self.kind == "ingest":
                    raise
                self.fail(source["manifest"], str(e))
                continue
            for problem in problems:
                self.fail(problem.where, problem.reason)
            out[source["manifest"]] = found
        return out

    def fail(self, path: str, reason: str) -> None:
        path = path_text(path)
        log.error("%s: %s", path, reason)
        self.summary.failures.append(Failure(path, reason))

    # --- uploads ----------------------------------------------------------------------------

    def _upload_values(self, c: Candidate, st: os.stat_result) -> dict:
        if c.uploaded_at is not None:
            uploaded_at, source = c.uploaded_at, "manifest"
        else:
            uploaded_at, source = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc), "file_time"
        return dict(
            path=path_text(c.path), uploaded_at=uploaded_at, uploaded_at_source=source, url=c.url, title=c.title,
            file_size=st.st_size, file_mtime_ns=st.st_mtime_ns,
        )  # fmt: skip

    def link_upload(self, video: repo.VideoRecord | int, c: Candidate, st: os.stat_result) -> None:
        """Record that `c` is an appearance of a stored video (new, moved, or changed upload)."""
        video_id = video if isinstance(video, int) else video.id
        account = repo.account_id(self.session, c.platform, c.account)
        values = self._upload_values(c, st)
        existing = repo.find_upload(self.session, path_text(c.path), account)
        if existing is not None:
            repo.update_upload(self.session, existing.id, video_id=video_id, gone_at=None, **values)
            self.summary.unchanged_uploads += 1
            return
        for old in repo.uploads_of_video_by_account(self.session, video_id, account):
            if not os.path.lexists(text_path(old.path)):
                # The same file, renamed or moved: one upload, now at its new path.
                if c.uploaded_at is None and old.uploaded_at_source == "manifest":
                    values.update(uploaded_at=old.uploaded_at, uploaded_at_source="manifest")
                repo.update_upload(self.session, old.id, gone_at=None, **values)
                self.summary.moved_uploads += 1
                return
        upload_id = repo.add_upload(self.session, video_id=video_id, account_id=account, first_seen_scan=self.scan_id, **values)
        if upload_id is None:  # another writer stored it meanwhile
            existing = repo.find_upload(self.session, path_text(c.path), account)
            repo.update_upload(self.session, existing.id, video_id=video_id, gone_at=None, **values)
            self.summary.unchanged_uploads += 1
            return
        self.summary.new_uploads += 1
        self.summary.new_upload_ids.append(upload_id)

    def triage(self, candidates: list[Candidate]) -> dict[str, _Pending]:
        """Link files of known videos; return the new contents, keyed by SHA-256."""
        pending: dict[str, _Pending] = {}
        if self.shared:  # every writer creates its accounts first, in one order: no deadlock
            repo.add_accounts(self.session, {(c.platform, c.account) for c in candidates if c.account is not None})
            self.session.commit()
        for n, c in enumerate(candidates, start=1):
            self.progress("reading files", n - 1, len(candidates), item=path_text(c.path))
            self.summary.files += 1
            path = path_text(c.path)
            try:
                st = os.stat(c.path)
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(path, "not a regular file")
                account = repo.account_id(self.session, c.platform, c.account)
                existing = repo.find_upload(self.session, path, account)
                if existing and (existing.file_size, existing.file_mtime_ns) == (st.st_size, st.st_mtime_ns):
                    video = self._unchanged(existing, c, st)
                    if _stale(video) and video.sha256 not in pending:
                        pending[video.sha256] = _Pending(size=st.st_size, uploads=[(c, st)], video_id=video.id)
                    continue
                sha = sha256_file(c.path)
                video = repo.video_by_sha(self.session, sha)
                if video is not None:
                    self.link_upload(video, c, st)
                    if video.status == "failed":
                        self.fail(path, f"{video.error} (recorded by an earlier scan)")
                    elif _stale(video) and sha not in pending:
                        pending[sha] = _Pending(size=st.st_size, uploads=[(c, st)], video_id=video.id)
                elif sha in pending:
                    pending[sha].uploads.append((c, st))
                else:
                    pending[sha] = _Pending(size=st.st_size, uploads=[(c, st)])
            except InputError as e:
                self.session.rollback()
                self.fail(path, e.reason)
            except OSError as e:
                self.session.rollback()
                self.fail(path, _os_reason(e))
            if self.shared or n % COMMIT_EVERY == 0:
                self.session.commit()
        self.session.commit()
        self.progress("reading files", len(candidates), len(candidates))
        return pending

    def _unchanged(self, existing: repo.UploadRecord, c: Candidate, st: os.stat_result) -> repo.VideoRecord:
        self.summary.unchanged_uploads += 1
        changes = {}
        if existing.gone:
            changes["gone_at"] = None
            self.summary.returned_uploads += 1
        if c.uploaded_at is not None and (c.uploaded_at, "manifest") != (existing.uploaded_at, existing.uploaded_at_source):
            changes.update(uploaded_at=c.uploaded_at, uploaded_at_source="manifest")
        for key in ("url", "title"):
            if getattr(c, key) is not None and getattr(c, key) != getattr(existing, key):
                changes[key] = getattr(c, key)
        if changes:
            repo.update_upload(self.session, existing.id, **changes)
        video = repo.videos_by_id(self.session, [existing.video_id])[existing.video_id]
        if video.status == "failed":
            self.fail(str(c.path), f"{video.error} (recorded by an earlier scan)")
        return video

    # --- fingerprinting ---------------------------------------------------------------------

    def _results(self, pending: dict[str, _Pending]):
        """(sha, fingerprint or None, error or None) for each pending content, in order."""
        jobs = [(sha, str(p.uploads[0][0].path)) for sha, p in pending.items()]
        empty = {sha for sha, p in pending.items() if p.size == 0}
        if self.scheduler:
            for sha in empty:
                yield sha, None, "empty file (0 bytes)"
            work = [(sha, path) for sha, path in jobs if sha not in empty]
            for sha, (fingerprint, error) in run_on_cluster(self.scheduler, _fingerprint_job, work, self.settings):
                yield sha, fingerprint, error
            return
        if self.workers == 1:
            for n, (sha, path) in enumerate(jobs):
                on_frame = self._announce(pending, n, sha)
                yield (sha, None, "empty file (0 bytes)") if sha in empty else (sha, *_fingerprint_job(path, self.settings, on_frame))
            return
        # One ffmpeg thread per worker: N single-threaded decodes share the cores better than N
        # decodes each starting a thread per core.
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, initializer=worker_init, initargs=(1,))
        try:
            queue: collections.deque = collections.deque()
            jobs_iter = iter(jobs)
            done = 0
            while True:
                while len(queue) < 2 * self.workers:
                    job = next(jobs_iter, None)
                    if job is None:
                        break
                    sha, path = job
                    if sha in empty:
                        queue.append((sha, None))
                    else:
                        queue.append((sha, pool.submit(_fingerprint_job, path, self.settings)))
                if not queue:
                    return
                sha, future = queue.popleft()
                self._announce(pending, done, sha)
                done += 1
                if future is None:
                    yield sha, None, "empty file (0 bytes)"
                    continue
                try:
                    result = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    if self.interrupts.requested is not None:  # a worker stopped by the same signal
                        raise KeyboardInterrupt from None
                    raise
                yield (sha, *result)
        except BaseException:
            # Interrupted (or closed early): the work in flight is dropped, the workers stopped.
            for process in list((pool._processes or {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _announce(self, pending: dict[str, _Pending], done: int, sha: str):
        """Progress: the file now fingerprinted; returns the callback for its decoded frames."""
        total = len(pending)
        if self._pending_bytes is None:
            self._pending_bytes = sum(p.size for p in pending.values())
        self.progress("fingerprinting", done, total, item=path_text(pending[sha].uploads[0][0].path),
                      item_bytes=pending[sha].size, total_bytes=self._pending_bytes)  # fmt: skip
        return lambda ts_s, duration_s: self.progress("fingerprinting", done, total, item_s=ts_s, item_duration_s=duration_s)

    def fingerprint(self, pending: dict[str, _Pending]) -> None:
        """Fingerprint and store the new contents.

        Videos are committed in batches (a video and its frames always in the same transaction)
        and at least every `COMMIT_EVERY_S`; their frames join the index only once committed, so
        the saved index never covers frames that a crash rolled back. Ctrl-C or SIGTERM commits
        every video finished so far, then ends the scan (the next run resumes from there).
        """
        total = self.summary.to_fingerprint = len(pending)
        repo.set_scan_counts(self.session, self.scan_id, {"to_fingerprint": total})
        self.session.commit()
        # (videos, frames) per commit: one commit per video costs an fsync per clip on collections
        # of short clips; these (and the time) bound what a killed run has to redo.
        commit_videos, commit_frames = (1, 1) if self.shared else (50, 20_000)
        batch: list[tuple[list[int], object]] = []
        sound_batch: list[tuple[int, int, SoundPrint | None]] = []
        counts = {"videos": 0, "frames": 0}
        last_commit = time.monotonic()

        def commit() -> None:
            nonlocal last_commit
            with self.interrupts.held():
                self.session.commit()
                for frame_ids, codes in batch:
                    self.index.add(frame_ids, codes)
                for print_id, video_id, sound in sound_batch:
                    if sound is not None:
                        self.sound_index.add(print_id, video_id, sound.values)
                batch.clear()
                sound_batch.clear()
                counts.update(videos=0, frames=0)
                last_commit = time.monotonic()

        results = self._results(pending)
        try:
            for n, (sha, found, error) in enumerate(results, start=1):
                self.progress("fingerprinting", n - 1, total, item_duration_s=found.pictures.duration_s if found is not None else None)
                with self.interrupts.held():
                    frames = self._store_result(pending[sha], sha, found, error, batch, sound_batch)
                    if frames is not None:
                        counts["videos"] += 1
                        counts["frames"] += frames
                    if (
                        counts["videos"] >= commit_videos or counts["frames"] >= commit_frames
                        or time.monotonic() - last_commit >= COMMIT_EVERY_S
                    ):  # fmt: skip
                        commit()
        except KeyboardInterrupt:
            results.close()  # stops the workers
            commit()  # every finished video
            log.info("interrupted: %d of %d new video(s) stored", self.summary.new_videos, total)
            raise
        commit()
        if self.summary.refingerprinted_videos:
            # Old frames and prints left SQL: the indexes are rebuilt from it (once per version change).
            self.index = synced_index(self.store)
            self.sound_index, _ = synced_sound(self.session, None)
            self.session.rollback()
        self.progress("fingerprinting", total, total)

    def _store_result(
        self, item: _Pending, sha: str, found: Fingerprints | None, error: str | None, batch: list, sound_batch: list
    ) -> int | None:
        """Store one fingerprinted content (or its failure) in the open transaction; the number
        of frames it added to the batch waiting for commit (None: nothing added)."""
        if _changed_since(*item.uploads[0]):
            # Read while it changed or vanished: store nothing; the next scan reads it again.
            for c, _ in item.uploads:
                self.fail(str(c.path), "file changed or disappeared while it was being read; not stored")
            return None
        if item.video_id is not None:
            self._refingerprinted(item, found, error)
            return None
        fingerprint = found.pictures if found is not None else None
        video_id, frame_ids, created = repo.add_video(self.session, sha, item.size, fingerprint, error)
        for c, st in item.uploads:
            self.link_upload(video_id, c, st)
        if created and fingerprint is not None:
            print_id = self._store_sound(video_id, found.sound)
            codes = to_matrix([f.hash for f in fingerprint.frames], len(fingerprint.frames[0].hash))
            batch.append((frame_ids, codes))
            sound_batch.append((print_id, video_id, found.sound))
        if not created:  # another writer stored this content meanwhile (and its frames)
            log.info("%s: stored meanwhile by another writer", item.uploads[0][0].path)
        elif fingerprint is None:
            for c, _ in item.uploads:
                self.fail(str(c.path), error)
        else:
            self.summary.new_videos += 1
            for warning in fingerprint.warnings:
                log.warning("%s: %s", item.uploads[0][0].path, warning)
                self.summary.warnings.append(Failure(path_text(item.uploads[0][0].path), warning))
        return len(frame_ids)

    def _store_sound(self, video_id: int, sound: SoundPrint | None) -> int:
        """Store a video's sound print (None: no soundtrack) in the transaction of its frames."""
        return repo.set_sound_print(self.session, video_id, sound, SOUND_ALGORITHM, SOUND_VERSION, SOUND_STEP_S)

    def _refingerprinted(self, item: _Pending, found: Fingerprints | None, error: str | None) -> None:
        """Store a stored video's new fingerprints in place of its old ones (kept when this fails)."""
        path = path_text(item.uploads[0][0].path)
        if found is None:
            self.fail(path, f"{error}; kept its fingerprint from an older version")
            return
        repo.replace_fingerprint(self.session, item.video_id, found.pictures)
        self._store_sound(item.video_id, found.sound)
        self.session.commit()
        for warning in found.pictures.warnings:
            self.summary.warnings.append(Failure(path, warning))
        self.summary.refingerprinted_videos += 1
        log.info("%s: fingerprinted again with %s v%s", path, HASH_ALGORITHM, HASH_VERSION)

    # --- matching ---------------------------------------------------------------------------

    def match_new(self) -> None:
        self.summary.new_matches += match_unmatched(
            self.session, self.index, self.settings, self.scan_id, self.progress, self.sound_index, self.summary.warnings
        )  # fmt: skip

    # --- gone files -------------------------------------------------------------------------

    def mark_gone(self, candidates: list[Candidate], missing_roots: set[str]) -> None:
        roots = [s["root"] for s in self.sources if s.get("root") and s["root"] not in missing_roots]
        listed = {path_text(c.path) for c in candidates} | {path_text(s["file"]) for s in self.sources if s.get("file")}
        now = repo.utcnow()
        for upload in repo.live_uploads(self.session):
            inside = upload.path in listed or any(text_path(upload.path).is_relative_to(r) for r in roots)
            if inside and not os.path.lexists(text_path(upload.path)):
                repo.update_upload(self.session, upload.id, gone_at=now)
                self.summary.gone_uploads += 1
        self.session.commit()

    def _save_sound_index(self) -> None:
        """Save the sound index as SQL has it (prints of videos a crash rolled back never enter)."""
        index, _ = synced_sound(self.session, self.sound_index)
        self.session.rollback()
        index.save(sound_index_path(self.store))

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
            candidates, missing_roots = self.discover()
            pending = self.triage(candidates)
            self.fingerprint(pending)
            if self.kind == "rescan":
                self.mark_gone(candidates, missing_roots)
            self.match_new()
            self.record_changes(before)
            status = "partial" if self.summary.failures else "ok"
            return self.summary
        finally:
            with self.interrupts.held(then_raise=False):
                self._finish(status)

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
    store: Store, settings: Settings | None = None, workers: int = 1, progress: Progress = _noop, scheduler: str | None = None
) -> ScanSummary:
    """Re-walk every folder and manifest ingested before: add what is new, mark what is gone, match."""
    with scan_lock(store.location):
        with store.session() as session:
            sources = repo.known_sources(session)
        if not sources:
            raise UsageError("nothing to rescan: no folder has been ingested into this store yet")
        return _Scan(store, "rescan", sources, settings or Settings(), workers, progress, scheduler).run()
