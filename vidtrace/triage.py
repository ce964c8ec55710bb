"""Triage of uploads: which files a scan finds, and which of them are new, changed, moved, back or gone.

A file whose size and time match its stored upload is not read again; any other file is hashed
(SHA-256) and linked to the stored video of that content, or waits to be fingerprinted. A file's
path is normalised once, as `Candidate.text`: what is stored, compared and reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidtrace import sidecars
from vidtrace.discover import Candidate, path_text, read_manifest, text_path, walk_root
from vidtrace.errors import InputError, UsageError
from vidtrace.progress import Progress
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION
from vidtrace.sound import SOUND_ALGORITHM, SOUND_VERSION
from vidtrace.store import repo

if TYPE_CHECKING:
    from vidtrace.scan import ScanSummary

log = logging.getLogger(__name__)

#: Uploads of already-known videos are committed in batches of this many files.
COMMIT_EVERY = 200


@dataclass
class Pending:
    """A new distinct content (by SHA-256) waiting to be fingerprinted, with its uploads."""

    size: int
    uploads: list[tuple[Candidate, os.stat_result]]
    #: set for a stored video fingerprinted by an older hash version: fingerprint it again
    video_id: int | None = None


def stale(video: repo.VideoRecord) -> bool:
    """A video of this store hashed by another algorithm version, or whose sound print is missing
    or of another version (imported ones are their source's)."""
    if video.status != "ok" or video.source is not None:
        return False
    return (video.algorithm, video.algorithm_version) != (HASH_ALGORITHM, HASH_VERSION) or video.sound != (
        SOUND_ALGORITHM,
        SOUND_VERSION,
    )


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _os_reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


class Uploads:
    """The uploads side of one scan: discovery, triage, links to stored videos, gone files.

    `fail(path_text, reason)` records an input that failed; the counts go to `summary`.
    """

    def __init__(
        self, session, kind: str, sources: list[dict], scan_id: int, summary: ScanSummary, shared: bool,
        fail: Callable[[str, str], None], progress: Progress,
    ):  # fmt: skip
        self.session = session
        self.kind = kind
        self.sources = sources
        self.scan_id = scan_id
        self.summary = summary
        self.shared = shared
        self.fail = fail
        self.progress = progress

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
                    self.fail(path_text(root), "folder not found or not a folder; its uploads are not marked gone")
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
                    self.summary.not_in_manifest += [c.text for c in found if c.uploaded_at is None]
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
                self.fail(path_text(source["manifest"]), str(e))
                continue
            for problem in problems:
                self.fail(problem.where, problem.reason)
            out[source["manifest"]] = found
        return out

    # --- uploads ----------------------------------------------------------------------------

    def _upload_values(self, c: Candidate, st: os.stat_result) -> dict:
        if c.uploaded_at is not None:
            uploaded_at, source = c.uploaded_at, "manifest"
        else:
            uploaded_at, source = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC), "file_time"
        return dict(
            path=c.text, uploaded_at=uploaded_at, uploaded_at_source=source, url=c.url, title=c.title,
            file_size=st.st_size, file_mtime_ns=st.st_mtime_ns,
        )  # fmt: skip

    def link(self, video: repo.VideoRecord | int, c: Candidate, st: os.stat_result) -> None:
        """Record that `c` is an appearance of a stored video (new, moved, or changed upload)."""
        video_id = video if isinstance(video, int) else video.id
        account = repo.account_id(self.session, c.platform, c.account)
        values = self._upload_values(c, st)
        existing = repo.find_upload(self.session, c.text, account)
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
        upload_id = repo.add_upload(
            self.session, video_id=video_id, account_id=account, first_seen_scan=self.scan_id, **values
        )
        if upload_id is None:  # another writer stored it meanwhile
            existing = repo.find_upload(self.session, c.text, account)
            assert existing is not None, "the upload that conflicted is stored"
            repo.update_upload(self.session, existing.id, video_id=video_id, gone_at=None, **values)
            self.summary.unchanged_uploads += 1
            return
        self.summary.new_uploads += 1
        self.summary.new_upload_ids.append(upload_id)

    def triage(self, candidates: list[Candidate]) -> dict[str, Pending]:
        """Link files of known videos; return the new contents, keyed by SHA-256."""
        pending: dict[str, Pending] = {}
        if self.shared:  # every writer creates its accounts first, in one order: no deadlock
            repo.add_accounts(self.session, {(c.platform, c.account) for c in candidates if c.account is not None})
            self.session.commit()
        for n, c in enumerate(candidates, start=1):
            self.progress("reading files", n - 1, len(candidates), item=c.text)
            self.summary.files += 1
            try:
                st = os.stat(c.path)
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(c.text, "not a regular file")
                account = repo.account_id(self.session, c.platform, c.account)
                existing = repo.find_upload(self.session, c.text, account)
                if existing and (existing.file_size, existing.file_mtime_ns) == (st.st_size, st.st_mtime_ns):
                    known = self._unchanged(existing, c)
                    if stale(known) and known.sha256 not in pending:
                        pending[known.sha256] = Pending(size=st.st_size, uploads=[(c, st)], video_id=known.id)
                    continue
                sha = sha256_file(c.path)
                video = repo.video_by_sha(self.session, sha)
                if video is not None:
                    self.link(video, c, st)
                    if video.status == "failed":
                        self.fail(c.text, f"{video.error} (recorded by an earlier scan)")
                    elif stale(video) and sha not in pending:
                        pending[sha] = Pending(size=st.st_size, uploads=[(c, st)], video_id=video.id)
                elif sha in pending:
                    pending[sha].uploads.append((c, st))
                else:
                    pending[sha] = Pending(size=st.st_size, uploads=[(c, st)])
            except InputError as e:
                self.session.rollback()
                self.fail(c.text, e.reason)
            except OSError as e:
                self.session.rollback()
                self.fail(c.text, _os_reason(e))
            if self.shared or n % COMMIT_EVERY == 0:
                self.session.commit()
        self.session.commit()
        self.progress("reading files", len(candidates), len(candidates))
        return pending

    def _unchanged(self, existing: repo.UploadRecord, c: Candidate) -> repo.VideoRecord:
        self.summary.unchanged_uploads += 1
        changes: dict[str, object] = {}
        if existing.gone:
            changes["gone_at"] = None
            self.summary.returned_uploads += 1
        if c.uploaded_at is not None and (c.uploaded_at, "manifest") != (
            existing.uploaded_at,
            existing.uploaded_at_source,
        ):
            changes.update(uploaded_at=c.uploaded_at, uploaded_at_source="manifest")
        for key in ("url", "title"):
            if getattr(c, key) is not None and getattr(c, key) != getattr(existing, key):
                changes[key] = getattr(c, key)
        if changes:
            repo.update_upload(self.session, existing.id, **changes)
        video = repo.videos_by_id(self.session, [existing.video_id])[existing.video_id]
        if video.status == "failed":
            self.fail(c.text, f"{video.error} (recorded by an earlier scan)")
        return video

    # --- gone files -------------------------------------------------------------------------

    def mark_gone(self, candidates: list[Candidate], missing_roots: set[str]) -> None:
        """Mark gone the live uploads under the walked folders (or given alone) whose files are no more."""
        roots = [s["root"] for s in self.sources if s.get("root") and s["root"] not in missing_roots]
        listed = {c.text for c in candidates} | {path_text(s["file"]) for s in self.sources if s.get("file")}
        now = repo.utcnow()
        for upload in repo.live_uploads(self.session):
            inside = upload.path in listed or any(text_path(upload.path).is_relative_to(r) for r in roots)
            if inside and not os.path.lexists(text_path(upload.path)):
                repo.update_upload(self.session, upload.id, gone_at=now)
                self.summary.gone_uploads += 1
        self.session.commit()
