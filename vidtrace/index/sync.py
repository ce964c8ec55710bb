"""Keeping the on-disk frame index in step with SQL (the source of truth).

A store holds its index either as one file (`frames.faiss`) or as shards
(`frames.shard-K-of-N.faiss`, see `vidtrace.index.sharded` and `vidtrace.layout`); shard files,
when present, are the index. Either way each file records what it covers (counts, id sums, and a digest of every
frame's id and hash, so that the index of another store of the same files, ingested in another
order, is told apart), and a file that does not agree with SQL is brought up to date (frames
added since it was saved) or rebuilt from SQL. What SQL holds is summed over the videos, each of
which records its frames' share (`vidtrace.store.frame_sums`): checking reads one row a video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import numpy as np
from sqlalchemy import Select, literal_column, select
from sqlalchemy.orm import Session

from vidtrace import layout
from vidtrace import settings as defaults
from vidtrace.errors import UsageError
from vidtrace.hashes import to_matrix
from vidtrace.index.base import Index
from vidtrace.index.coverage import Coverage, add_digests, frame_digest
from vidtrace.index.frames import FrameIndex
from vidtrace.index.sharded import MAX_SHARDS, ShardedIndex, load_shard, shard_of
from vidtrace.store import frame_sums
from vidtrace.store.db import Store
from vidtrace.store.models import Frame

log = logging.getLogger(__name__)

ALGORITHM = defaults.HASH_ALGORITHM
VERSION = defaults.HASH_VERSION
#: Frames read from SQL per query while building an index (rows).
READ_BATCH_FRAMES = 200_000


def _shard_expr(shards: int):
    """`video_id % shards` in SQL, the modulus written inline so that PostgreSQL sees the same
    expression in SELECT and GROUP BY (a bound parameter in each would be two expressions)."""
    return Frame.video_id % literal_column(str(int(shards)))


@dataclass(frozen=True)
class Part:
    """Which frames one index file holds: all of them, or the frames of shard `shard` of `shards`."""

    shard: int | None = None
    shards: int | None = None

    def where(self):
        """The SQL condition selecting this part's frames (None: every frame)."""
        return None if self.shards is None else _shard_expr(self.shards) == self.shard

    def path(self, index_path: Path) -> Path:
        if self.shard is None or self.shards is None:
            return index_path
        return layout.shard_path(index_path, self.shard, self.shards)

    def record(self) -> dict:
        return {} if self.shards is None else {"shard": self.shard, "shards": self.shards}

    def label(self) -> str:
        return "the frame index" if self.shards is None else f"shard {self.shard} of {self.shards}"


@dataclass(frozen=True)
class BuiltPart:
    """What `build_index` wrote: one file, its frame count and index kind."""

    shard: int | None
    shards: int | None
    path: str
    frames: int
    kind: str


def _rows(session: Session, where=None, after_id: int = 0, columns=()) -> Iterable[Sequence]:
    """Frames with id above `after_id` (and matching `where`), in id order and batches of rows
    (id, hash, *columns)."""
    last = after_id
    while True:
        query = select(Frame.id, Frame.hash, *columns).where(Frame.id > last)
        if where is not None:
            query = query.where(where)
        rows = _plain_rows(session, query.order_by(Frame.id).limit(READ_BATCH_FRAMES))
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])


def _plain_rows(session: Session, query: Select) -> list[Sequence]:
    """The rows of `query` as the database driver returns them (tuples): opening an index reads
    every frame's id and hash, and a result object per row costs as much as the read itself."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect)
    if compiled.post_compile_params:  # parameters rendered at execution (expanding IN): the usual way
        return list(connection.execute(query).all())
    params = compiled.params
    arguments = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), arguments)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _ids_and_codes(rows: Sequence[Sequence]) -> tuple[np.ndarray, np.ndarray]:
    """The ids and the hash matrix of rows (id, hash, ...)."""
    ids = np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=len(rows))
    hashes = list(map(bytes, map(itemgetter(1), rows)))
    return ids, to_matrix(hashes, len(hashes[0]))


def _codes(session: Session, part: Part, after_id: int = 0) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(ids, codes) of the part's frames with id above `after_id`, in id order and batches."""
    for rows in _rows(session, part.where(), after_id):
        yield _ids_and_codes(rows)


def sql_coverages(session: Session, shards: int | None = None) -> list[Coverage]:
    """What SQL holds, as index files record it (counts, id sums and the digest of ids and
    hashes): for all frames, or for each of `shards` shards. Summed over the videos' recorded
    sums (`vidtrace.store.frame_sums`), with the frames of videos that have none read."""
    parts = [frame_sums.stored(session)]
    if frame_sums.any_unrecorded(session):
        parts += _frame_sums(session, frame_sums.unrecorded())
    return coverages_of(frame_sums.Sums.joined(parts), shards)


def sums_of_frames(session: Session) -> frame_sums.Sums:
    """Every video's sums read from the frames themselves, all of them (what `doctor` checks the
    recorded sums and the index against)."""
    return frame_sums.Sums.joined(list(_frame_sums(session)))


def _frame_sums(session: Session, where=None) -> Iterable[frame_sums.Sums]:
    """The sums of the videos of each batch of frames (matching `where`), in id order."""
    for batch in _frame_batches(session, where):
        yield frame_sums.Sums.of_frames(*batch)


def coverages_of(sums: frame_sums.Sums, shards: int | None = None) -> list[Coverage]:
    """The coverage of the frames of the videos whose `sums` are given: of all of them, or of
    each of `shards` shards."""
    n = shards or 1
    which = shard_of(sums.video_ids, shards) if shards else np.zeros(len(sums.video_ids), np.int64)
    out = []
    for k in range(n):
        mine = which == k
        count, max_id = int(sums.counts[mine].sum()), int(sums.max_ids[mine].max(initial=0))
        id_sum, digest = int(sums.id_sums[mine].sum()), int(np.sum(sums.digests[mine], dtype=np.uint64))
        out.append(Coverage(ALGORITHM, VERSION, count, max_id, id_sum, digest))
    return out


def sql_coverage(session: Session) -> Coverage:
    """What SQL holds of all frames (see `sql_coverages`)."""
    return sql_coverages(session)[0]


def fill_frame_sums(store: Store) -> int:
    """Record the sums of the videos stored before they were kept (see
    `vidtrace.store.frame_sums`), from their frames; how many videos got them."""
    with store.session() as session:
        if not frame_sums.any_unrecorded(session):
            return 0
        filled = frame_sums.fill_missing(session, _frame_batches(session, frame_sums.unrecorded()))
        session.commit()
    if filled:
        log.info("recorded the frame sums of %d videos stored before they were kept", filled)
    return filled


def _frame_batches(session: Session, where) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(video ids, frame ids, hash rows) of the frames matching `where`, in batches."""
    for rows in _rows(session, where, columns=(Frame.video_id,)):
        ids, codes = _ids_and_codes(rows)
        yield np.fromiter(map(itemgetter(2), rows), np.int64, len(rows)), ids, codes


def _build(session: Session, part: Part) -> FrameIndex:
    """The part's index built from SQL: flat or multihash by size (see `vidtrace.index.frames`)."""
    chunks = list(_codes(session, part))
    if not chunks:
        return FrameIndex(nbits=defaults.HASH_SIZE**2)
    ids = np.concatenate([c[0] for c in chunks])
    codes = np.concatenate([c[1] for c in chunks])
    del chunks
    return FrameIndex.build(ids, codes)


def _synced_part(
    session: Session, part: Part, loaded: tuple[FrameIndex, Coverage] | None, wanted: Coverage
) -> tuple[FrameIndex, bool]:
    """The part's index covering exactly its frames in SQL (`wanted`), and whether it changed.

    Keeps `loaded` when its record agrees with SQL, digest included, whichever hash version
    recorded it (it holds the same frames; it counts as changed, to be saved with this version's
    record). When SQL only has frames added after it (a run that stopped before saving), adds
    those, once the frames it holds are shown to be SQL's (the record plus the new frames make up
    `wanted`); otherwise (another store's index, or a stale one) rebuilds from SQL.
    """
    if loaded is not None:
        index, covered = loaded
        if covered == wanted:
            return index, False
        if covered.same_frames(wanted):  # recorded by an older version of vidtrace: the same frames
            log.info("%s holds this database's frames, recorded with hash version %d", part.label(), covered.version)
            return index, True
        if covered.algorithm == wanted.algorithm and covered.max_id <= wanted.max_id:
            new = list(_codes(session, part, after_id=covered.max_id))
            count = covered.count + sum(len(ids) for ids, _ in new)
            id_sum = covered.id_sum + sum(int(ids.sum()) for ids, _ in new)
            digest = add_digests(covered.digest, *(frame_digest(ids, codes) for ids, codes in new))
            if (count, id_sum, digest) == (wanted.count, wanted.id_sum, wanted.digest):
                log.info(
                    "%s misses %d frames stored since it was saved; adding them", part.label(), count - covered.count
                )
                for ids, codes in new:
                    index.add(ids, codes)
                return index, True
            del new
        log.info("%s does not hold this database's frames; rebuilding it", part.label())
    else:
        log.info("building %s from the database", part.label())
    return _build(session, part), True


def synced_index(store: Store, save: bool = True) -> Index:
    """The index covering exactly the frames in SQL: one file, or every shard when the store
    holds shard files (missing or stale shards are rebuilt from SQL, the others kept).

    Saves what changed when `save` is set (never for a store opened read-only), and then also
    records the frame sums of videos stored before they were kept. Raises UsageError when the
    store folder holds shard files of two shard counts.
    """
    path = store.location.index_path
    save = save and not store.read_only  # a reading command leaves the files as they are
    if save:
        fill_frame_sums(store)
    counts = layout.shard_counts(path)
    if counts:
        return _synced_shards(store, _one_count(counts, path), None, save)
    part = Part()
    with store.session() as session:
        index, changed = _synced_part(session, part, FrameIndex.load(path), sql_coverage(session))
    if changed and save:
        save_index(store, index)
    return index


def _one_count(counts: set[int], path: Path) -> int:
    if len(counts) > 1:
        listed = " and ".join(str(c) for c in sorted(counts))
        raise UsageError(
            f"{path.parent} holds index shards for {listed} shards; run `vidtrace index build --shards N` to replace them"
        )
    return next(iter(counts))


def _synced_shards(store: Store, shards: int, current: ShardedIndex | None, save: bool) -> ShardedIndex:
    path = store.location.index_path
    indexes, coverages = [], []
    with store.session() as session:
        for k, wanted in enumerate(sql_coverages(session, shards)):
            part = Part(k, shards)
            loaded: tuple[FrameIndex, Coverage] | None
            if current is not None and current.n_shards == shards:
                loaded = (current.shards[k], current.coverages[k])
            else:
                loaded = load_shard(path, k, shards)
            index, changed = _synced_part(session, part, loaded, wanted)
            if changed and save:
                index.save(part.path(path), wanted, part.record())
            indexes.append(index)
            coverages.append(wanted)
    return ShardedIndex(indexes, coverages)


def save_index(store: Store, index: Index) -> None:
    """Save the index beside the database. A sharded index is brought up to date from SQL,
    which knows each new frame's video and so its shard, and its changed shards are saved."""
    if isinstance(index, ShardedIndex):
        synced = _synced_shards(store, index.n_shards, index, save=True)
        index.shards, index.coverages = synced.shards, synced.coverages
        index.pending = FrameIndex(nbits=index.nbits, multihash_from=None)
        return
    if not isinstance(index, FrameIndex):
        raise TypeError(f"cannot save an index of type {type(index).__name__}")
    index.save(store.location.index_path, index.coverage(ALGORITHM, VERSION))


def build_index(store: Store, shards: int | None = None, shard: int | None = None) -> list[BuiltPart]:
    """Rebuild the index from SQL: one file, all `shards` shards, or only shard `shard`.

    Each shard reads only its own videos' frames, so shards can be built on different machines
    against the same database and their files copied into one store folder. Index files of
    another layout in the store folder (the single file, or shards of another count) are
    removed, so that the folder holds one layout. Records the frame sums of videos stored before
    they were kept, as every command that writes the index does.
    """
    if shard is not None and shards is None:
        raise UsageError("--shard needs --shards (the total number of shards)")
    if shards is not None and not 1 <= shards <= MAX_SHARDS:
        raise UsageError(f"--shards must be between 1 and {MAX_SHARDS}, got {shards}")
    if shard is not None and shards is not None and not 0 <= shard < shards:
        raise UsageError(f"--shard must be between 0 and {shards - 1} for {shards} shards, got {shard}")
    path = store.location.index_path
    if shards is None:
        parts = [Part()]
    else:
        parts = [Part(k, shards) for k in ([shard] if shard is not None else range(shards))]
    if not store.read_only:
        fill_frame_sums(store)
    built = []
    with store.session() as session:
        for part in parts:
            index = _build(session, part)
            target = part.path(path)
            index.save(target, index.coverage(ALGORITHM, VERSION), part.record())
            built.append(BuiltPart(part.shard, part.shards, str(target), len(index), index.kind))
            log.info("built %s: %d frames (%s)", part.label(), len(index), index.kind)
    _remove_other_layouts(path, shards)
    return built


def _remove_other_layouts(path: Path, shards: int | None) -> None:
    """Delete index files (and records) that are not part of the layout with `shards` shards."""
    stale = [p for (_, n), p in layout.shard_files(path).items() if n != shards]
    if shards is not None:
        stale.append(path)
    for file in stale:
        for p in layout.index_files(file):
            log.info("removing %s (another index layout)", p.name)
            p.unlink()
