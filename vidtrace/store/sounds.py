"""Sound prints: one soundtrack's Chromaprint values per video."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vidtrace.results.records import Coverage
from vidtrace.store.models import SoundPrint
from vidtrace.store.sql import chunks

if TYPE_CHECKING:
    from vidtrace.sound import SoundPrint as SoundValues


def _sound_print(data: bytes, *meta) -> SoundValues:
    """A stored print's values; the sound module, which decodes soundtracks, is imported only here."""
    from vidtrace.sound import SoundPrint as SoundValues

    return SoundValues.from_bytes(data, *meta)


def set_sound_print(
    session: Session, video_id: int, sound: SoundValues | None, algorithm: str, version: int, step_s: float
) -> int:
    """Store (or replace) a video's sound print; None stores that it has no soundtrack. Its row id."""
    session.execute(delete(SoundPrint).where(SoundPrint.video_id == video_id))
    row = SoundPrint(
        video_id=video_id, algorithm=algorithm, algorithm_version=version, step_s=step_s,
        value_count=0 if sound is None else len(sound), data=b"" if sound is None else sound.to_bytes(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def sound_print_of_video(session: Session, video_id: int) -> SoundValues | None:
    """A video's sound print; None when it has none (no soundtrack, or not computed)."""
    row = session.execute(
        select(SoundPrint.algorithm, SoundPrint.algorithm_version, SoundPrint.step_s, SoundPrint.data).where(
            SoundPrint.video_id == video_id, SoundPrint.value_count > 0
        )
    ).first()
    if row is None:
        return None
    algorithm, version, step_s, data = row
    return _sound_print(data, algorithm, version, step_s)


def sound_coverage(session: Session, algorithm: str, version: int, up_to_id: int | None = None) -> Coverage:
    """Count, largest and sum of the ids of the sound prints with values (what a sound index records)."""
    query = select(
        func.count(SoundPrint.id), func.coalesce(func.max(SoundPrint.id), 0), func.coalesce(func.sum(SoundPrint.id), 0)
    ).where(SoundPrint.value_count > 0)
    if up_to_id is not None:
        query = query.where(SoundPrint.id <= up_to_id)
    count, max_id, id_sum = session.execute(query).one()
    return Coverage(algorithm=algorithm, version=version, count=int(count), max_id=int(max_id), id_sum=int(id_sum))


def sound_rows(
    session: Session, after_id: int = 0, video_ids: Iterable[int] | None = None, batch: int = 2_000
) -> Iterable[tuple[int, int, np.ndarray]]:
    """(print id, video id, values) of the sound prints with values, in id order: those with id
    above `after_id`, or those of `video_ids`."""
    if video_ids is not None:
        for chunk in chunks(sorted(set(video_ids))):
            query = select(SoundPrint.id, SoundPrint.video_id, SoundPrint.data).where(
                SoundPrint.video_id.in_(chunk), SoundPrint.value_count > 0
            )
            for pid, vid, data in session.execute(query.order_by(SoundPrint.id)):
                yield pid, vid, _sound_print(data).values
        return
    last = after_id
    while True:
        rows = session.execute(
            select(SoundPrint.id, SoundPrint.video_id, SoundPrint.data)
            .where(SoundPrint.id > last, SoundPrint.value_count > 0)
            .order_by(SoundPrint.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for pid, vid, data in rows:
            yield pid, vid, _sound_print(data).values
        last = rows[-1][0]
