"""Which videos are matched, and their frames in this process's index, while writers share a store.

A video is matched against every video matched before it (`videos.match_order`), so each pair is
matched once, by the one of the two matched second. With several writers on one database, videos
get matched by others while this process works; `MatchedVideos` follows them in match order and
adds to the in-memory index the frames of any it does not hold yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from vidtrace.store import repo

if TYPE_CHECKING:  # the store needs the index's interface only, not the index
    from vidtrace.index import Index


class MatchedVideos:
    """The matched videos that `index` covers, caught up with the database on request."""

    def __init__(self, session: Session, index: Index):
        self.index = index
        self.ids: set[int] = set()
        self.order = 0  # the last match order taken in
        self._held = np.sort(index.ids())  # frame ids the index held when this began
        self._added: set[int] = set()  # videos whose frames were added since
        self.catch_up(session)

    def _indexed(self, video_id: int, first_frame_id: int) -> bool:
        # A video's frames are committed together, so holding its first frame means holding all.
        if video_id in self._added:
            return True
        at = int(np.searchsorted(self._held, first_frame_id))
        return at < len(self._held) and int(self._held[at]) == first_frame_id

    def catch_up(self, session: Session) -> list[int]:
        """Take in the videos matched since the last call (by any writer); returns their ids."""
        newly = repo.matched_after(session, self.order)
        if not newly:
            return []
        ids = [video_id for video_id, _ in newly]
        missing = [v for v, first in repo.first_frame_ids(session, ids).items() if not self._indexed(v, first)]
        for frame_ids, codes in repo.frame_codes_of_videos(session, missing):
            self.index.add(frame_ids, codes)
        self._added.update(missing)
        self.ids.update(ids)
        self.order = newly[-1][1]
        return ids
