"""Keeping the on-disk FAISS index in step with SQL (the source of truth)."""

from __future__ import annotations

import logging

import numpy as np

from vidtrace import settings as defaults
from vidtrace.index import FrameIndex
from vidtrace.store import repo
from vidtrace.store.db import Store

log = logging.getLogger(__name__)

ALGORITHM = defaults.HASH_ALGORITHM
VERSION = defaults.HASH_VERSION


def synced_index(store: Store, save: bool = True) -> FrameIndex:
    """The index covering exactly the frames in SQL.

    Loads the saved file when its record agrees with SQL; when SQL only has frames added after
    it (a run that stopped before saving), adds those; otherwise rebuilds from SQL. The index
    picks its own kind by size (exact flat search, or multi-index hashing for large stores; see
    `vidtrace.index`). Saves the result when anything changed and `save` is set.
    """
    path = store.location.index_path
    with store.session() as session:
        wanted = repo.frame_coverage(session, ALGORITHM, VERSION)
        loaded = FrameIndex.load(path)
        changed = False
        if loaded is not None:
            index, covered = loaded
            if covered == wanted:
                return index
            prefix = repo.frame_coverage(
                session, ALGORITHM, VERSION, up_to_id=covered.max_id
            )
            if prefix == covered:
                log.info(
                    "index misses %d frames stored since it was saved; adding them",
                    wanted.count - covered.count,
                )
                for ids, codes in repo.frame_codes(session, after_id=covered.max_id):
                    index.add(ids, codes)
                changed = True
            else:
                log.info("index file does not match the database; rebuilding it")
                loaded = None
        if loaded is None:
            if path.exists():
                log.info("rebuilding the frame index from the database")
            parts = list(repo.frame_codes(session))
            if parts:
                ids = np.concatenate([p[0] for p in parts])
                codes = np.concatenate([p[1] for p in parts])
                del parts
                index = FrameIndex.build(ids, codes)  # flat or multihash, by size
            else:
                index = FrameIndex(nbits=defaults.HASH_SIZE**2)
            changed = True
    if changed and save:
        save_index(store, index)
    return index


def save_index(store: Store, index: FrameIndex) -> None:
    index.save(store.location.index_path, index.coverage(ALGORITHM, VERSION))
