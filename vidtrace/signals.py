"""Signal types behind one interface, and the one place their matches are combined.

A signal type fingerprints a file, keeps an index of its values beside the store, and searches
and aligns a query against the stored videos. Pictures (frame hashes) and sound (Chromaprint
values) are the two types; a third is one more class here and one more module of its own.

A stored video found by any signal is one match, which records the signals that align. Pictures
come first: when they align the match is a copy and its segments are theirs. When only the sound
aligns the match is "same soundtrack" (a dub, a voice-over reused on other pictures), with the
sound's segments: related content, not a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from vidtrace import sound
from vidtrace.align import Alignment
from vidtrace.errors import InputError
from vidtrace.fingerprint import VideoFingerprint, fingerprint_file
from vidtrace.index.sounds import SoundIndex, synced_sound_index
from vidtrace.index.sync import synced_index
from vidtrace.matching import MatchBudgetExceeded, VideoMatch, split_by_key  # noqa: F401  (raised through match_video)
from vidtrace.results.matches import COPY, IDENTICAL_FILE, PICTURES, SAME_SOUNDTRACK, SOUND, SignalMatch  # noqa: F401
from vidtrace.settings import Settings
from vidtrace.store import repo
from vidtrace.store.db import Store

Accept = Callable[[repo.VideoRecord], bool]


class SignalType(Protocol):
    """One kind of evidence that two videos hold the same content."""

    #: stable name, stored in `matches.signals`
    name: str
    #: the kind of a match resting on this signal without the signals listed before it
    kind_alone: str

    def fingerprint(self, path: Path, settings: Settings) -> Any:
        """The file's fingerprint for this signal (None when the file has nothing of it)."""

    def open_index(self, store: Store, save: bool = True) -> Any:
        """The store's index of this signal's values, in step with SQL (saved when it had to
        change, if `save`)."""

    def stored_query(self, session: Session, video_id: int) -> Any:
        """A stored video's fingerprint as a query (None when it has none)."""

    def search(
        self, session: Session, index: Any, query: Any, duration_s: float, settings: Settings, accept: Accept
    ) -> list[VideoMatch]:
        """Stored videos whose values align with the query's, best first."""


@dataclass(frozen=True)
class PictureQuery:
    ts_s: Sequence[float]
    hashes: Sequence[bytes]
    regions: Sequence[int] | None


class Pictures:
    """Frame hashes (`vidtrace.fingerprint`), the frame index, `vidtrace.matching`."""

    name = PICTURES
    kind_alone = COPY

    def fingerprint(self, path: Path, settings: Settings) -> VideoFingerprint:
        return fingerprint_file(path, settings)

    def open_index(self, store: Store, save: bool = True):
        return synced_index(store, save=save)

    @staticmethod
    def query_of(fingerprint: VideoFingerprint) -> PictureQuery:
        frames = fingerprint.frames
        return PictureQuery([f.ts_s for f in frames], [f.hash for f in frames], [f.region for f in frames])

    def stored_query(self, session: Session, video_id: int) -> PictureQuery:
        return PictureQuery(*repo.frames_of_video(session, video_id))

    def search(self, session, index, query: PictureQuery, duration_s, settings, accept) -> list[VideoMatch]:
        from vidtrace.picture_search import find_matches

        return find_matches(
            session, index, query.ts_s, query.hashes, duration_s, settings, accept=accept, regions=query.regions
        )


class Sound:
    """Chromaprint values (`vidtrace.sound`), the sound index (`vidtrace.sound_index`)."""

    name = SOUND
    kind_alone = SAME_SOUNDTRACK

    def fingerprint(self, path: Path, settings: Settings) -> sound.SoundPrint | None:
        return sound.sound_print(path, settings)

    def open_index(self, store: Store, save: bool = True) -> SoundIndex:
        return synced_sound_index(store, save=save)

    def stored_query(self, session: Session, video_id: int) -> sound.SoundPrint | None:
        return repo.sound_print_of_video(session, video_id)

    def search(
        self, session, index: SoundIndex, query: sound.SoundPrint | None, duration_s, settings, accept
    ) -> list[VideoMatch]:
        if query is None or len(query) < sound.SOUND_MIN_SHORT_VALUES:
            return []
        # A held value (silence, a hum) is no evidence: it is not searched at all, so that the
        # silent stretches of a store never flood a query with hits.
        held_s = sound.held_spans(query.values, query.step_s, settings)
        limit = sound.sound_settings(settings).max_echo_span_s
        rows_used = np.flatnonzero(held_s <= limit)
        rows, video_ids, positions, dists = index.search(query.values[rows_used], sound.SOUND_MAX_DISTANCE_BITS)
        rows = rows_used[rows]
        # Most videos a query's values meet share a few of them by chance: those that cannot align
        # are left out before anything is read of them. Alignment needs `required_values` query
        # values whose hits are held in neither soundtrack (a held value is never evidence).
        possible = []
        for video_id, mine in split_by_key(video_ids):
            stored = index.values_of(video_id)
            if stored is None:
                continue
            need = sound.required_values(len(query), len(stored))
            distinct = len(np.unique(rows[mine]))
            if distinct < need:
                continue
            r_held = index.held_of(video_id, query.step_s, settings)
            if r_held is not None and len(np.unique(rows[mine][r_held[positions[mine]] <= limit])) >= need:
                possible.append((video_id, mine, distinct, stored, r_held))
        videos = repo.videos_by_id(session, [video_id for video_id, *_ in possible])
        found = []
        for video_id, mine, distinct, stored, r_held in possible:
            video = videos.get(video_id)
            if video is None or video.status != "ok" or not accept(video):
                continue
            # the stored print's length is known once read: a short video may need fewer values
            short = (video.duration_s or 0.0) < sound.SHORT_SOUNDTRACK_S
            if distinct < sound.required_values(len(query), 0 if short else len(query)):
                continue
            alignment = sound.align_values(
                query.values, duration_s, stored, video.duration_s or len(stored) * query.step_s,
                (rows[mine], positions[mine], dists[mine]), settings, query.step_s, held_s, r_held,
            )  # fmt: skip
            if alignment is not None:
                found.append(VideoMatch(video_id, alignment))
        found.sort(key=lambda m: (-m.alignment.score, -m.alignment.matched_s, m.video_id))
        return found


#: Every signal type, the one that decides a copy first.
SIGNALS: tuple[SignalType, ...] = (Pictures(), Sound())


def merge(found: dict[str, list[VideoMatch]], signals: Sequence[SignalType] = SIGNALS) -> list[SignalMatch]:
    """One match per stored video from each signal's matches: the first signal (in `signals`
    order) that aligns gives the segments and the kind; every signal that aligns is listed."""
    by_video: dict[int, dict[str, Alignment]] = {}
    for signal in signals:
        for m in found.get(signal.name, []):
            by_video.setdefault(m.video_id, {})[signal.name] = m.alignment
    out = []
    for video_id, alignments in by_video.items():
        first = next(s for s in signals if s.name in alignments)
        names = tuple(s.name for s in signals if s.name in alignments)
        out.append(SignalMatch(video_id, alignments[first.name], names, first.kind_alone))
    out.sort(key=lambda m: (m.kind != COPY, -m.alignment.score, -m.alignment.matched_s, m.video_id))
    return out


def match_video(
    session: Session, indexes: dict[str, Any], queries: dict[str, Any], duration_s: float, settings: Settings,
    accept: Accept = lambda video: True, signals: Sequence[SignalType] = SIGNALS, found: dict[str, list[VideoMatch]] | None = None,
) -> list[SignalMatch]:  # fmt: skip
    """Every signal's search for one video, merged per stored video (copies first, best first).
    `found`: the matches of signals already searched (not searched again).

    Raises MatchBudgetExceeded when the pictures' hits exceed the memory budget of matching.
    """
    found = dict(found or {})
    for s in signals:
        if s.name in indexes and s.name not in found:
            found[s.name] = s.search(session, indexes[s.name], queries.get(s.name), duration_s, settings, accept)
    return merge(found, signals)


def open_indexes(
    store: Store, signals: Sequence[SignalType] = SIGNALS, saved: Sequence[str] | None = None
) -> dict[str, Any]:
    """Every signal's index; those named in `saved` (default: all) are saved when they changed."""
    return {s.name: s.open_index(store, save=saved is None or s.name in saved) for s in signals}


def sound_or_warning(path: Path, settings: Settings) -> tuple[sound.SoundPrint | None, str | None]:
    """The file's sound print, or None and why when ffmpeg failed on its audio (the pictures may
    still be fine: the video keeps them, with the reason as a warning)."""
    try:
        return sound.sound_print(path, settings), None
    except InputError as e:
        return None, e.reason
