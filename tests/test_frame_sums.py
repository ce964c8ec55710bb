"""Each video records what its frames add to the frame index's coverage, so that opening the index
reads one row a video instead of every frame; the sums always equal the frames'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update

from conftest import fixture_clip, run
from vidtrace.index import load_index, sync
from vidtrace.store import db, frame_sums
from vidtrace.store.models import Video


def _copy(ingested_store: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(ingested_store, store)
    return store


def _open(path: Path, read_only: bool = False) -> db.Store:
    return db.Store.open(db.StoreLocation.resolve(path), create=not read_only, read_only=read_only)


def _truth(store: db.Store, shards: int | None = None):
    """The coverages read from every frame, and the ones read from the videos' sums."""
    with store.session() as session:
        return sync.coverages_of(sync.sums_of_frames(session), shards), sync.sql_coverages(session, shards)


def _forget_all(store: db.Store) -> None:
    """Make the store look like one whose videos were stored before the sums were kept."""
    with store.session() as session:
        session.execute(update(Video).values(**dict.fromkeys(frame_sums.NO_FRAMES)))
        session.commit()


def _unrecorded(store: db.Store) -> int:
    with store.session() as session:
        return len(list(session.scalars(select(Video.id).where(Video.frame_count.is_(None)))))


@pytest.mark.parametrize("shards", [None, 3])
def test_ingested_videos_record_the_sums_of_their_frames(ingested_store, tmp_path, shards):
    store = _open(_copy(ingested_store, tmp_path))
    try:
        from_frames, from_videos = _truth(store, shards)
        assert from_videos == from_frames
        assert sum(c.count for c in from_videos) > 0
        with store.session() as session:
            recorded = frame_sums.stored(session, with_frames_only=False)
            assert frame_sums.disagreeing(recorded, sync.sums_of_frames(session)) == []
            # Every video has them, failed ones included (zeros).
            assert len(recorded.video_ids) == len(list(session.scalars(select(Video.id))))
    finally:
        store.close()


def test_opening_an_index_in_step_with_sql_reads_no_frame(ingested_store, tmp_path, monkeypatch):
    path = _copy(ingested_store, tmp_path)
    store = _open(path, read_only=True)
    read = []
    original = sync._rows
    monkeypatch.setattr(sync, "_rows", lambda *a, **k: read.append(1) or original(*a, **k))
    try:
        index = sync.synced_index(store, save=False)
        _, covered = load_index(path / db.INDEX_FILENAME)
        assert len(index) == covered.count > 0
        assert read == []
    finally:
        store.close()


def test_videos_without_sums_are_read_from_their_frames_and_filled_in_by_a_writing_command(ingested_store, tmp_path):
    path = _copy(ingested_store, tmp_path)
    store = _open(path)
    try:
        before = _truth(store)[0]
        _forget_all(store)
        assert _unrecorded(store) > 0
        from_frames, from_videos = _truth(store)
        assert from_videos == from_frames == before
    finally:
        store.close()
    # A lookup only reads: it finds the same matches and leaves the sums unrecorded.
    clip = fixture_clip("a_trimmed.mp4")
    looked = run(path, "lookup", clip, "--json")
    assert looked.exit_code == 0, looked.stderr
    assert json.loads(looked.stdout)["matches"]
    store = _open(path, read_only=True)
    try:
        assert _unrecorded(store) > 0
    finally:
        store.close()
    # A command that writes records them, and they are the frames' own.
    assert run(path, "index", "build").exit_code == 0
    store = _open(path)
    try:
        assert _unrecorded(store) == 0
        from_frames, from_videos = _truth(store, 3)
        assert from_videos == from_frames
    finally:
        store.close()
    again = run(path, "lookup", clip, "--json")
    assert json.loads(again.stdout) == json.loads(looked.stdout)


def test_doctor_finds_sums_that_are_not_the_frames_and_repair_records_them_again(ingested_store, tmp_path):
    path = _copy(ingested_store, tmp_path)
    store = _open(path)
    try:
        with store.session() as session:
            victim = session.scalar(select(Video.id).where(Video.frame_count > 0).order_by(Video.id))
            session.execute(update(Video).where(Video.id == victim).values(frame_digest=12345))
            session.commit()
    finally:
        store.close()
    checked = run(path, "doctor", "--json")
    assert checked.exit_code != 0
    finding = {f["check"]: f for f in json.loads(checked.stdout)["checks"]}["frame_sums"]
    assert not finding["ok"] and finding["items"] == [{"video_id": victim}]
    repaired = run(path, "doctor", "--repair")
    assert repaired.exit_code == 0, repaired.stdout
    assert "recorded again the frame sums of 1 video(s)" in repaired.stdout
    store = _open(path)
    try:
        from_frames, from_videos = _truth(store)
        assert from_videos == from_frames
    finally:
        store.close()


def test_imported_videos_record_their_sums(ingested_store, tmp_path):
    exported = tmp_path / "export.jsonl.gz"
    assert run(ingested_store, "export", str(exported)).exit_code == 0
    target = tmp_path / "partner"
    result = run(target, "import", str(exported), "--source", "partner")
    assert result.exit_code == 0, result.stderr
    store = _open(target)
    try:
        assert _unrecorded(store) == 0
        from_frames, from_videos = _truth(store)
        assert from_videos == from_frames and from_videos[0].count > 0
    finally:
        store.close()


def test_sums_signed_for_sql_keep_every_bit():
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1):
        signed = frame_sums.signed64(value)
        assert -(1 << 63) <= signed < (1 << 63)
        assert signed % (1 << 64) == value
