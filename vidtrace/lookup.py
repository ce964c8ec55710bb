"""Lookup: where else does this clip appear? Read-only: the database is never written.

Identity comes before any signal: a file whose SHA-256 is stored is that video, reported first at
score 1.0 as an "identical file", whatever its content (a still, silence, a clip too short to
align) and even when it no longer decodes. Then every signal's matches (`vidtrace.signals`):
copies first, then videos sharing only the soundtrack.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidtrace import signals as sig
from vidtrace.align import Alignment, Segment
from vidtrace.errors import InputError
from vidtrace.fingerprint import fingerprint_file
from vidtrace.progress import Progress, silent
from vidtrace.results.matches import LookupMatch, LookupResult, VideoMatch
from vidtrace.scan import sha256_file
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store


def _identical(video: repo.VideoRecord) -> LookupMatch:
    """The whole stored video as the query's match: the same bytes, so the same time line."""
    duration = float(video.duration_s or 0.0)
    whole = Segment(0.0, duration, 0.0, duration, 1.0, 0, 0.0)
    return LookupMatch(video.id, Alignment((whole,), duration, 1.0), (), sig.IDENTICAL_FILE)


class _Background:
    """A call run on a thread of its own while the caller goes on; `result()` waits for it and
    returns its value or raises its exception."""

    def __init__(self, call: Callable[[], Any]):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._value = call()
        except BaseException as e:  # handed to the caller by result()
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _search_each(
    store: Store, indexes: dict[str, Any], queries: dict[str, Any], duration_s: float, settings: Settings,
    accept: sig.Accept,
) -> dict[str, list[VideoMatch]]:  # fmt: skip
    """Each signal's matches. The signals after the first search in threads of their own, each
    with a session of its own, while the first searches in this one: the sound aligns while the
    pictures wait on SQL or on each other. A lookup only reads, so no session misses another's
    writes."""

    def search(signal: sig.SignalType) -> list[VideoMatch]:
        with store.session() as session:
            try:
                return signal.search(
                    session, indexes[signal.name], queries.get(signal.name), duration_s, settings, accept
                )
            finally:
                session.rollback()

    searched = [s for s in sig.SIGNALS if s.name in indexes]
    if not searched:
        return {}
    beside = {s.name: _Background(functools.partial(search, s)) for s in searched[1:]}
    try:
        found = {searched[0].name: search(searched[0])}
    except BaseException:
        for started in beside.values():  # no thread left behind
            with contextlib.suppress(Exception):
                started.result()
        raise
    found.update((name, started.result()) for name, started in beside.items())
    return found


def lookup(
    store: Store, path: Path, settings: Settings | None = None, top: int | None = None, progress: Progress = silent
) -> LookupResult:
    """Stored videos sharing segments with the file at `path` (ingested or not), best first: the
    stored video with the same bytes, then copies, then videos with the same soundtrack.
    `progress` hears of the query's fingerprinting (video seconds) and the search."""
    settings = settings or Settings()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "not found or not a file")
    try:
        sha = sha256_file(path)
        size = path.stat().st_size
    except OSError as e:
        raise InputError(path, (e.strerror or str(e)).lower()) from e
    with store.session() as session:
        same = repo.video_by_sha(session, sha)
        session.rollback()
    queries: dict = {}
    # The indexes open (a check of each against SQL, or a build from it) while the query is
    # decoded and hashed, from its first frame on: a file that does not decode is reported at
    # once. A lookup writes nothing: an index file that is missing or stale is built in memory
    # from SQL for this search and the files are left as they are (a read-only store works).
    # The soundtrack's print is computed (its own ffmpeg) beside the pictures' decoding too.
    beside: list[_Background] = []  # the indexes, then the sound print, once started

    def start_beside() -> None:
        if not beside:
            beside.append(_Background(lambda: sig.open_indexes(store, saved=())))
            beside.append(_Background(lambda: sig.sound_or_warning(path, settings)[0]))

    try:
        progress("fingerprinting the query", 0, 1, item=str(path), item_bytes=size, total_bytes=size)

        def on_frame(ts_s: float, duration_s: float) -> None:
            start_beside()
            progress("fingerprinting the query", 0, 1, item_s=ts_s, item_duration_s=duration_s)

        fingerprint = fingerprint_file(path, settings, on_frame)
        start_beside()
        queries[sig.SOUND] = beside[1].result()  # the soundtrack is part of the query's fingerprint
        progress("fingerprinting the query", 1, 1)
    except Exception as e:
        for started in beside:  # decoding failed after its first frame: no search, no thread left behind
            with contextlib.suppress(Exception):
                started.result()
        if not isinstance(e, InputError) or same is None:
            raise
        fingerprint = None  # the stored video is the answer, whether or not the file decodes
    found: list[LookupMatch] = [_identical(same)] if same is not None else []
    if fingerprint is not None:
        duration_s = fingerprint.duration_s
    else:
        assert same is not None, "without a fingerprint the stored video is the answer"
        duration_s = float(same.duration_s or 0.0)
    if fingerprint is not None:
        queries[sig.PICTURES] = sig.Pictures.query_of(fingerprint)
        progress("searching", 0, 1)
        indexes = beside[0].result()
        try:
            found_by = _search_each(
                store, indexes, queries, duration_s, settings, lambda video: same is None or video.id != same.id
            )
        except sig.MatchBudgetExceeded as e:  # the file's own error, in one line, not a crash
            raise InputError(path, str(e)) from e
        others = sig.merge(found_by)
        progress("searching", 1, 1)
        found += [LookupMatch(m.video_id, m.alignment, m.signals, m.kind) for m in others]
    if top is not None:
        found = found[:top]
    with store.session() as session:
        ids = [m.video_id for m in found]
        uploads = repo.uploads_of_videos(session, ids)
        sources = {v.id: v.source for v in repo.videos_by_id(session, ids).values()}
        session.rollback()
    return LookupResult(str(path), duration_s, found, dict(uploads), sources)
