"""Doctor: check a store (index and videos' frame sums against SQL, files gone from disk, failed
videos, interrupted scans) and, on request, mend what can be mended. Checking never writes;
repairing takes the writer lock like ingest and rescan.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from sqlalchemy import func, select

from vidtrace import signals
from vidtrace.discover import text_path
from vidtrace.errors import InputError
from vidtrace.fingerprint import fingerprint_file
from vidtrace.index import load_index
from vidtrace.index.sync import coverages_of, fill_frame_sums, sums_of_frames, synced_index
from vidtrace.match_service import match_unmatched
from vidtrace.report import older_fingerprints_note
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION, Settings
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION
from vidtrace.store import frame_sums, repo
from vidtrace.store.db import Store, writer_lock
from vidtrace.store.models import Scan, Video

log = logging.getLogger(__name__)


@dataclass
class Finding:
    """One check: `ok` or not, a one-line summary, and the items concerned."""

    check: str
    ok: bool
    summary: str
    items: list[dict] = field(default_factory=list)


@dataclass
class DoctorReport:
    findings: list[Finding]
    repairs: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(f.ok for f in self.findings)


def check(store: Store) -> DoctorReport:
    """Every check, read-only."""
    with store.session() as session:
        actual = sums_of_frames(session)  # one read of every frame, for the two checks that need it
        findings = [
            _check_index(store, session, actual), _check_frame_sums(session, actual), _check_missing(session),
            _check_failed(session), _check_unmatched(session), _check_scans(session), _check_versions(session),
        ]  # fmt: skip
        session.rollback()
    return DoctorReport(findings)


def repair(store: Store, settings: Settings | None = None) -> DoctorReport:
    """Mend what can be mended, then check again; `repairs` says what was done."""
    settings = settings or Settings()
    done: list[str] = []
    with writer_lock(store.location):
        before = check(store)
        by_check = {f.check: f for f in before.findings}
        with store.session() as session:
            if not by_check["scans"].ok:
                for item in by_check["scans"].items:
                    repo.finish_scan(session, item["scan_id"], "interrupted", {})
                session.commit()
                done.append(f"marked {len(by_check['scans'].items)} scan(s) left running as interrupted")
            if not by_check["missing_files"].ok:
                now = repo.utcnow()
                for item in by_check["missing_files"].items:
                    repo.update_upload(session, item["upload_id"], gone_at=now)
                session.commit()
                done.append(f"marked {len(by_check['missing_files'].items)} upload(s) whose file is missing as gone")
        if not by_check["frame_sums"].ok:
            with store.session() as session:
                wrong = [item["video_id"] for item in by_check["frame_sums"].items]
                frame_sums.forget(session, wrong)
                session.commit()
            fill_frame_sums(store)
            done.append(f"recorded again the frame sums of {len(wrong)} video(s) from their frames")
        elif filled := fill_frame_sums(store):
            done.append(f"recorded the frame sums of {filled} video(s) stored before they were kept")
        if not by_check["index"].ok:
            store.location.index_path.unlink(missing_ok=True)
            index = synced_index(store)
            done.append(f"rebuilt the frame index from the database ({len(index)} frames)")
        if not by_check["failed_videos"].ok:
            done += _retry_failed(store, settings, by_check["failed_videos"].items)
    after = check(store)
    after.repairs = done
    return after


# --- checks -------------------------------------------------------------------------------------


def _check_index(store: Store, session, actual: frame_sums.Sums) -> Finding:
    wanted = coverages_of(actual)[0]
    loaded = load_index(store.location.index_path)
    if loaded is None:
        if wanted.count == 0:
            return Finding("index", True, "no frames stored; no index needed")
        return Finding("index", False, f"index file missing or unreadable; the database holds {wanted.count} frames")
    _, covered = loaded
    if covered.counts() == wanted.counts() and covered.digest != wanted.digest:
        return Finding(
            "index", False, f"index holds {covered.count} frames with the database's ids but other hashes "
            "(an index of another store, or stale)",
        )  # fmt: skip
    if not covered.same_frames(wanted):
        return Finding(
            "index", False, f"index covers {covered.count} frames (up to id {covered.max_id}), the database holds "
            f"{wanted.count} (up to id {wanted.max_id})",
        )  # fmt: skip
    return Finding("index", True, f"index covers exactly the {wanted.count} stored frames")


def _check_frame_sums(session, actual: frame_sums.Sums) -> Finding:
    """Each video's recorded frame sums (what opening the index reads instead of every frame)
    against its frames."""
    recorded = frame_sums.stored(session, with_frames_only=False)
    wrong = frame_sums.disagreeing(recorded, actual)
    if wrong:
        return Finding(
            "frame_sums", False, f"{len(wrong)} video(s) record frame sums other than their frames'",
            [{"video_id": v} for v in wrong],
        )  # fmt: skip
    unrecorded = session.scalar(select(func.count()).select_from(Video)) - len(recorded.video_ids)
    if unrecorded:
        return Finding(
            "frame_sums", True, f"{unrecorded} video(s) stored before frame sums were kept (their frames are read "
            "instead; `doctor --repair` or the next command that writes records them)",
        )  # fmt: skip
    return Finding("frame_sums", True, "every video's recorded frame sums are its frames'")


def _check_missing(session) -> Finding:
    items = [
        {"upload_id": u.id, "video_id": u.video_id, "path": u.path, "account": u.account}
        for u in repo.live_uploads(session)
        if not u.path.startswith(repo.IMPORT_PATH_PREFIX) and not os.path.lexists(text_path(u.path))
    ]
    if items:
        return Finding("missing_files", False, f"{len(items)} upload(s) not marked gone whose file is missing", items)
    return Finding("missing_files", True, "every live upload's file is on disk")


def _check_failed(session) -> Finding:
    failed = list(session.scalars(select(Video).where(Video.status == "failed").order_by(Video.id)))
    uploads = repo.uploads_of_videos(session, [v.id for v in failed])
    items = [
        {"video_id": v.id, "sha256": v.sha256, "error": v.error, "paths": [u.path for u in uploads.get(v.id, [])]}
        for v in failed
    ]
    if items:
        return Finding("failed_videos", False, f"{len(items)} video(s) failed to fingerprint", items)
    return Finding("failed_videos", True, "no failed videos")


def _check_unmatched(session) -> Finding:
    """Videos left unmatched with a reason (their hits exceeded the matching memory budget): they
    are stored and searchable, but no match of theirs was looked for."""
    left = list(session.scalars(select(Video).where(Video.unmatched_reason.is_not(None)).order_by(Video.id)))
    uploads = repo.uploads_of_videos(session, [v.id for v in left])
    items = [
        {"video_id": v.id, "reason": v.unmatched_reason, "paths": [u.path for u in uploads.get(v.id, [])]} for v in left
    ]
    if items:
        return Finding("unmatched_videos", False, f"{len(items)} video(s) left unmatched (see each reason)", items)
    return Finding("unmatched_videos", True, "every fingerprinted video was matched")


def _check_versions(session) -> Finding:
    """Videos hashed by an older version: searchable and matched, not broken, but they match
    less well than they will once fingerprinted again (by a rescan; imported ones by importing a
    newer export of their source)."""
    older = repo.older_fingerprints(session, HASH_ALGORITHM, HASH_VERSION)
    note = older_fingerprints_note(older, HASH_VERSION)
    items = [{"imported": imported, "hash_version": v, "videos": n} for (imported, v), n in sorted(older.items())]
    return Finding(
        "hash_versions", True, note or f"every video is fingerprinted with hash version {HASH_VERSION}", items
    )


def _check_scans(session) -> Finding:
    """Scans left running. One that started before a later scan finished was killed and its work
    resumed by that scan (every scan carries on where the store stands): no longer a problem."""
    last_finished = session.scalar(select(func.max(Scan.id)).where(Scan.status != "running")) or 0
    running = list(session.scalars(select(Scan).where(Scan.status == "running").order_by(Scan.id)))
    healed = [s for s in running if s.id < last_finished]
    items = [
        {"scan_id": s.id, "kind": s.kind, "started_at": s.started_at.isoformat()}
        for s in running
        if s.id > last_finished
    ]
    if items:
        return Finding("scans", False, f"{len(items)} scan(s) never finished (killed or still running)", items)
    if healed:
        return Finding(
            "scans", True, f"every scan finished or was resumed by a later one ({len(healed)} stopped early)"
        )
    return Finding("scans", True, "every scan finished")


# --- repairs ------------------------------------------------------------------------------------


def _retry_failed(store: Store, settings: Settings, items: list[dict]) -> list[str]:
    fixed, still = 0, []
    with store.session() as session:
        for item in items:
            paths = [text_path(p) for p in item["paths"] if os.path.isfile(text_path(p))]
            if not paths:
                still.append(f"video {item['video_id']}: no file left to read")
                continue
            try:
                fingerprint = fingerprint_file(paths[0], settings)
            except InputError as e:
                still.append(f"video {item['video_id']}: {e.reason}")
                continue
            repo.replace_fingerprint(session, item["video_id"], fingerprint)
            sound, _ = signals.sound_or_warning(paths[0], settings)  # pictures stand without it
            repo.set_sound_print(session, item["video_id"], sound, SOUND_ALGORITHM, SOUND_VERSION, SOUND_STEP_S)
            session.commit()
            fixed += 1
        done = [f"retried {len(items)} failed video(s): {fixed} now fingerprinted, {len(still)} still failing"]
        done += [f"  {s}" for s in still]
        if fixed:
            index = synced_index(store)
            new = match_unmatched(session, index, settings, None)
            done.append(f"matched the retried videos: {len(new)} new match(es)")
    return done
