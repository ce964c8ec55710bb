"""The sound index: exact Hamming search over every stored sound value (32 bits each), saved as
`sounds.faiss` in the store.

Like the frame index, it is derived from SQL (`sound_prints`): the file records what it covers
(the count, largest and sum of the sound print ids with values, and the algorithm version), and
a file that does not agree with SQL is topped up with the prints stored since, or rebuilt. Each
entry's id packs the video id and the value's position in its print
(`video_id << POSITION_BITS | position`). FAISS is reached through `vidtrace.index.faiss_binary`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from vidtrace import layout
from vidtrace.index.base import empty_hits
from vidtrace.index.coverage import Coverage
from vidtrace.index.faiss_binary import BinaryFlat
from vidtrace.settings import Settings
from vidtrace.sound import SOUND_ALGORITHM, SOUND_VERSION, held_spans, value_rows
from vidtrace.store import repo
from vidtrace.store.db import Store

log = logging.getLogger(__name__)

SOUND_INDEX_FILENAME = layout.SOUND_INDEX_FILENAME
SOUND_INDEX_FORMAT = 1
#: Bits of an entry id holding the value's position in its print: 2**24 values last 578 hours.
POSITION_BITS = 24
_POSITION_MASK = (1 << POSITION_BITS) - 1
_NBITS = 32


class SoundIndex:
    """Exact Hamming search over every stored sound value, with the prints it holds."""

    def __init__(self) -> None:
        self._index = BinaryFlat(_NBITS, reverse_map=False)
        self.videos: set[int] = set()
        self._count = self._max_id = self._id_sum = 0  # of the print ids added
        # Each video's values as held in the index (filled from it on first use when loaded), and
        # how long each is held in its own soundtrack: a video met by many queries (ingest,
        # import) is read and measured once, not once a query.
        self._values: dict[int, np.ndarray] | None = {}
        self._held: dict[tuple[int, float, float], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._index)

    def add(self, print_id: int, video_id: int, values: np.ndarray) -> None:
        """Add one video's print (`print_id`: its row id in SQL)."""
        values = np.asarray(values, dtype=np.uint32)[: _POSITION_MASK + 1]
        self.videos.add(int(video_id))
        if len(values) == 0:  # no soundtrack: SQL's coverage counts prints with values only
            return
        ids = (np.int64(video_id) << POSITION_BITS) | np.arange(len(values), dtype=np.int64)
        self._index.add(ids, value_rows(values))
        if self._values is not None:
            self._values[int(video_id)] = values
        self._count += 1
        self._max_id = max(self._max_id, int(print_id))
        self._id_sum += int(print_id)

    def coverage(self) -> Coverage:
        return Coverage(SOUND_ALGORITHM, SOUND_VERSION, self._count, self._max_id, self._id_sum)

    def search(self, values: np.ndarray, max_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, video ids, positions, distances) of every stored value within `max_bits`
        of a query value, by query row."""
        values = np.asarray(values, dtype=np.uint32)
        if len(values) == 0 or len(self) == 0:
            return (*empty_hits(), np.zeros(0, dtype=np.int64))
        rows, ids, dists = self._index.range_search(value_rows(values), max_bits)
        return rows, ids >> POSITION_BITS, ids & _POSITION_MASK, dists

    def values_of(self, video_id: int) -> np.ndarray | None:
        """The stored values of a video's print (uint32, in time order), None when it has none."""
        if self._values is None:
            ids = self._index.ids()
            order = np.argsort(ids, kind="stable")  # by video, then position (how ids are packed)
            ids, values = ids[order], self._index.codes().view(">u4").ravel().astype(np.uint32)[order]
            videos = ids >> POSITION_BITS
            cuts = np.flatnonzero(videos[1:] != videos[:-1]) + 1
            parts = zip(np.split(videos, cuts), np.split(values, cuts)) if len(ids) else ()
            self._values = {int(part[0]): vals for part, vals in parts}
        return self._values.get(int(video_id))

    def held_of(self, video_id: int, step_s: float, settings: Settings) -> np.ndarray | None:
        """`sound.held_spans` of a stored print (None when it has none), measured once a video
        and setting it depends on."""
        values = self.values_of(video_id)
        if values is None:
            return None
        entry = (int(video_id), step_s, settings.max_echo_span_s)
        held = self._held.get(entry)
        if held is None:
            held = self._held[entry] = held_spans(values, step_s, settings)
        return held

    def save(self, path: Path) -> None:
        """Write the index, then its record (each atomically: temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._index.write(path)
        record = {
            "format": SOUND_INDEX_FORMAT,
            "values": len(self),
            "videos": sorted(self.videos),
            **asdict(self.coverage()),
        }
        layout.atomic_write(layout.record_path(path), json.dumps(record))

    @classmethod
    def load(cls, path: Path) -> SoundIndex | None:
        """The saved index, or None when missing, unreadable or not the one its record describes."""
        try:
            record = json.loads(layout.record_path(Path(path)).read_text())
            if record.get("format") != SOUND_INDEX_FORMAT:
                return None
            if (record["algorithm"], record["version"]) != (SOUND_ALGORITHM, SOUND_VERSION):
                return None
            index = BinaryFlat.read(path, _NBITS, reverse_map=False)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError):
            return None
        if index is None or len(index) != record["values"]:
            return None
        found = cls()
        found._index = index
        found._values = None  # read from the index when first asked
        found.videos = {int(v) for v in record["videos"]}
        found._count, found._max_id, found._id_sum = int(record["count"]), int(record["max_id"]), int(record["id_sum"])
        return found


def sound_index_path(store: Store) -> Path:
    return store.location.sound_index_path


def build(session: Session) -> SoundIndex:
    """The sound index of every print in SQL."""
    index = SoundIndex()
    for print_id, video_id, values in repo.sound_rows(session):
        index.add(print_id, video_id, values)
    return index


def synced(session: Session, loaded: SoundIndex | None) -> tuple[SoundIndex, bool]:
    """An index covering exactly the prints in SQL, and whether it differs from `loaded`.

    Keeps `loaded` when its record agrees with SQL; adds the prints stored after it when SQL's
    older prints are the ones it holds (a run that stopped before saving); else rebuilds.
    """
    wanted = repo.sound_coverage(session, SOUND_ALGORITHM, SOUND_VERSION)
    if loaded is not None:
        have = loaded.coverage()
        if have == wanted:
            return loaded, False
        if repo.sound_coverage(session, SOUND_ALGORITHM, SOUND_VERSION, up_to_id=have.max_id) == have:
            for print_id, video_id, values in repo.sound_rows(session, after_id=have.max_id):
                loaded.add(print_id, video_id, values)
            log.info("sound index topped up to %d prints", loaded.coverage().count)
            return loaded, True
    log.info("building the sound index from SQL")
    return build(session), True


def synced_sound_index(store: Store, save: bool = True) -> SoundIndex:
    """The store's sound index, brought in step with SQL (and saved when it changed and `save`)."""
    path = sound_index_path(store)
    with store.session() as session:
        index, changed = synced(session, SoundIndex.load(path))
        session.rollback()
    if changed and save and not store.read_only:
        index.save(path)
    return index


def catch_up(session: Session, index: SoundIndex, video_ids: set[int]) -> None:
    """Add the prints of these videos that the index does not hold (stored by other writers)."""
    missing = video_ids - index.videos
    if not missing:
        return
    for print_id, video_id, values in repo.sound_rows(session, video_ids=missing):
        index.add(print_id, video_id, values)
    index.videos.update(missing)
