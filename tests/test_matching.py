"""Which region pairs may explain a hit, the edits they imply, and the query's held pictures."""

from __future__ import annotations

import numpy as np
import pytest

from vidtrace.fingerprint import (
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_FRAME,
    REGION_INSET,
    REGION_MIRROR,
    REGION_ZOOM,
)
from vidtrace.matching import (
    CROPPED,
    INSET,
    MIRRORED,
    PADDED,
    REFRAMED,
    held_changes,
    held_spans,
    plausible,
    region_edits,
)
from vidtrace.settings import Settings
from vidtrace.spec import (
    REGION_DEEP_ZOOM,
    REGION_MOTION,
    REGION_MOTION_CENTRE,
    REGION_MOTION_DEEP_ZOOM,
    REGION_MOTION_FOCUS,
    REGION_MOTION_INSET,
    REGION_MOTION_MIRROR,
    REGION_MOTION_ZOOM,
)

CROPS = (REGION_CENTRE, REGION_ZOOM, REGION_INSET)


@pytest.mark.parametrize("crop", CROPS)
def test_a_crop_matches_a_whole_frame_or_the_same_crop_only(crop):
    for whole in (REGION_FRAME, REGION_CONTENT, REGION_MIRROR):
        assert plausible(crop, whole) and plausible(whole, crop)
    assert plausible(crop, crop)  # two whole copies that differ outside it (a logo, a caption)
    for other in CROPS:
        if other != crop:
            assert not plausible(crop, other)
    assert plausible(None, crop)  # unknown query region


def test_a_query_mirror_matches_the_stored_crops_only():
    """A copy flipped and cropped: its mirror is its source's crop. Against a whole picture (or
    another mirror) it would only find again what the stored mirror finds."""
    for crop in (*CROPS, REGION_DEEP_ZOOM):
        assert plausible(REGION_MIRROR, crop)
        assert not plausible(REGION_MOTION_MIRROR, crop)  # a change matches a change only
    for change in (REGION_MOTION_ZOOM, REGION_MOTION_CENTRE, REGION_MOTION_INSET, REGION_MOTION_DEEP_ZOOM,
                   REGION_MOTION_FOCUS):  # fmt: skip
        assert plausible(REGION_MOTION_MIRROR, change)
    for whole in (REGION_FRAME, REGION_CONTENT, REGION_MIRROR):
        assert not plausible(REGION_MIRROR, whole)
    for whole in (REGION_MOTION, REGION_MOTION_MIRROR):
        assert not plausible(REGION_MOTION_MIRROR, whole)


def test_region_pairs_name_the_edit_that_explains_them():
    assert region_edits(REGION_FRAME, REGION_FRAME) == frozenset()
    assert region_edits(REGION_CONTENT, REGION_FRAME) == {PADDED}
    assert region_edits(REGION_ZOOM, REGION_FRAME) == {CROPPED}
    assert region_edits(REGION_FRAME, REGION_CENTRE) == {REFRAMED}
    assert region_edits(REGION_INSET, REGION_FRAME) == {INSET}
    assert region_edits(REGION_FRAME, REGION_MIRROR) == {MIRRORED}
    assert region_edits(REGION_CENTRE, REGION_CENTRE) == frozenset()
    assert region_edits(REGION_MIRROR, REGION_ZOOM) == {MIRRORED, CROPPED}
    assert region_edits(REGION_MOTION_MIRROR, REGION_MOTION_CENTRE) == {MIRRORED, REFRAMED}
    assert region_edits(REGION_MOTION_MIRROR, REGION_MOTION_DEEP_ZOOM) == {MIRRORED, CROPPED}


def test_query_echo_is_measured_per_region():
    # The same held picture in one region, moving content in another, interleaved in time.
    rng = np.random.default_rng(5)
    n = 48
    ts = [k * 0.125 for k in range(n)]
    held = np.repeat(rng.integers(0, 256, (1, 8), dtype=np.uint8), n, axis=0)
    moving = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    codes = np.concatenate([held, moving])
    regions = [REGION_ZOOM] * n + [REGION_FRAME] * n
    spans = held_spans(ts + ts, codes, regions, Settings())
    assert spans[:n].min() > Settings().max_echo_span_s
    assert spans[n:].max() == 0.0
    # Without regions, every hash is compared with every other: the held picture still echoes.
    assert held_spans(ts + ts, codes, None, Settings())[:n].min() > Settings().max_echo_span_s


def _slideshow_codes(slides: int, hold_s: float, seed: int = 3) -> tuple[list[float], np.ndarray]:
    """Whole-picture codes of a slideshow every 0.125 s: each slide held `hold_s`, different slides
    32 bits apart on average; the two pictures across each change are blends (half the bits)."""
    rng = np.random.default_rng(seed)
    looks = rng.integers(0, 256, (slides, 8), dtype=np.uint8)
    per = round(hold_s / 0.125)
    ts, codes = [], []
    for k in range(slides * per):
        slide = k // per
        code = looks[slide].copy()
        if slide > 0 and k % per < 2:  # mean pictures straddling the change
            code[:4] = looks[slide - 1][:4]
        ts.append(k * 0.125)
        codes.append(code)
    return ts, np.array(codes)


def test_held_changes_are_the_slide_changes_of_a_slideshow():
    ts, codes = _slideshow_codes(slides=5, hold_s=4.0)
    changes = held_changes(ts, codes, [REGION_FRAME] * len(ts), Settings())
    assert len(changes) == 4
    assert np.abs(changes - np.array([4.0, 8.0, 12.0, 16.0])).max() <= 0.25


def test_moving_content_and_a_single_card_have_no_held_changes():
    rng = np.random.default_rng(9)
    ts = [k * 0.125 for k in range(160)]
    moving = rng.integers(0, 256, (160, 8), dtype=np.uint8)
    assert len(held_changes(ts, moving, None, Settings())) == 0
    # 3 s of a card, then moving content: the content after it is not held.
    card = np.concatenate([np.repeat(moving[:1], 24, axis=0), moving[24:]])
    assert len(held_changes(ts, card, None, Settings())) == 0
    # Pictures of other regions (a zoomed crop) do not count as whole pictures.
    slide_ts, slides = _slideshow_codes(slides=5, hold_s=4.0)
    assert len(held_changes(slide_ts, slides, [REGION_ZOOM] * len(slide_ts), Settings())) == 0


def test_stored_held_pictures_weigh_nothing_in_find_matches(tmp_path, monkeypatch):
    """A stored video whose pictures are held (a static logo over different content) gives its
    hits held_s from its own frames: find_matches aligns again with them."""
    from vidtrace import candidates, match_service
    from vidtrace.align import Alignment, Segment
    from vidtrace.decode import VideoInfo
    from vidtrace.fingerprint import FrameHash, VideoFingerprint
    from vidtrace.hashes import to_matrix
    from vidtrace.index import FrameIndex
    from vidtrace.store import repo
    from vidtrace.store.db import Store, StoreLocation

    rng = np.random.default_rng(11)
    held = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    moving = [rng.integers(0, 256, 8, dtype=np.uint8).tobytes() for _ in range(48)]
    ts = [round(k * 0.125, 3) for k in range(48)]
    frames = [FrameHash(t, held, 20.0, REGION_FRAME) for t in ts] + [
        FrameHash(t, h, 20.0, REGION_ZOOM) for t, h in zip(ts, moving)
    ]
    fingerprint = VideoFingerprint(VideoInfo(6.0, 25.0, 320, 240, True), frames, 150)
    store = Store.open(StoreLocation.resolve(tmp_path / "store"), create=True)
    with store.session() as session:
        _, frame_ids, _ = repo.add_video(session, "a" * 64, 1, fingerprint)
        session.commit()
        index = FrameIndex()
        index.add(np.array(frame_ids), to_matrix([f.hash for f in frames], 8))
        seen: list[list] = []
        segment = Segment(0.0, 6.0, 0.0, 6.0, 1.0, 48, 0.0)

        def fake_align(hits, *args):
            seen.append(hits.hits_at(np.arange(len(hits))))
            return Alignment((segment,), 6.0, 1.0)

        monkeypatch.setattr(candidates, "align_planned", fake_align)
        # The query shows the same moving content (zoom region) and the held picture once.
        query = [(t, h, REGION_ZOOM) for t, h in zip(ts, moving)] + [(7.0, held, REGION_FRAME)]
        found = match_service.find_matches(
            session, index, [q[0] for q in query], [q[1] for q in query], 6.0, Settings(), regions=[q[2] for q in query]
        )
    store.close()
    assert [m.video_id for m in found] == [1]
    first, second = seen  # aligned once as found, once with the stored side's held pictures
    limit = Settings().max_echo_span_s
    on_held = [h for h in second if h.q_ts == 7.0]
    assert len(on_held) == 48 and all(h.held_s > limit for h in on_held)
    assert all(h.held_s == 0.0 for h in first if h.q_ts == 7.0)  # not held in the query
    assert all(h.held_s == 0.0 for h in second if h.q_ts != 7.0)  # the moving zoom hits stay evidence


def test_queries_searched_together_keep_the_hits_each_keeps_alone():
    """`matching.search` of several queries in one pass gives each the hits it gets alone (same
    order); past the batch's hit budget the later queries get None, the first is kept whole."""
    from vidtrace import matching
    from vidtrace.index import FrameIndex

    rng = np.random.default_rng(5)
    stored = rng.integers(0, 256, (300, 8), dtype=np.uint8)
    ids = np.arange(1, 301)
    videos, ts, regions = ids % 3 + 1, (ids // 3) * 0.125, np.where(ids % 2 == 0, REGION_FRAME, REGION_ZOOM)
    index = FrameIndex()
    index.add(ids, stored)

    def load(wanted):
        at = np.asarray(wanted) - 1
        return ids[at], videos[at], ts[at], regions[at]

    def query(rows):
        codes = stored[rows] ^ (rng.random((len(rows), 8)) < 0.02).astype(np.uint8)
        return matching.prepare([float(t) for t in ts[rows]], codes, 40.0, Settings(), [int(r) for r in regions[rows]])

    queries = [query(rng.choice(300, 120, replace=False)) for _ in range(4)]
    judge = lambda vids: set(vids)  # noqa: E731
    excluded = [{1}, None, {2, 3}, set()]
    alone = [
        matching.search(index, [q], matching.FrameTable(load), judge, Settings(), [e])[0]
        for q, e in zip(queries, excluded)
    ]
    assert [len(a) for a in alone] == [2, 3, 1, 3]  # every stored video not excluded is hit
    together = matching.search(index, queries, matching.FrameTable(load), judge, Settings(), excluded, batch_hits=10**9)
    for a, t in zip(alone, together):
        assert sorted(a) == sorted(t)
        for v in a:
            assert all(np.array_equal(x, y) for x, y in zip(a[v].joined(), t[v].joined()))
    capped = matching.search(index, queries, matching.FrameTable(load), judge, Settings(), excluded, batch_hits=1)
    assert isinstance(capped[0], dict) and capped[1:] == [None, None, None]
    assert all(np.array_equal(x, y) for v in alone[0] for x, y in zip(alone[0][v].joined(), capped[0][v].joined()))


def test_ingest_matches_new_videos_from_the_frames_it_holds_not_read_back(tmp_path, monkeypatch):
    from conftest import FIXTURE_VIDEOS, run
    from vidtrace.match_service import NewFrames
    from vidtrace.store import repo

    real = repo.frames_of_videos

    def ingest_reading(store) -> tuple[list[int], str]:
        read: list[int] = []

        def spy(session, video_ids):
            video_ids = list(video_ids)
            read.extend(video_ids)
            return real(session, video_ids)

        monkeypatch.setattr(repo, "frames_of_videos", spy)
        assert run(store, "ingest", FIXTURE_VIDEOS).exit_code == 0
        monkeypatch.setattr(repo, "frames_of_videos", real)
        matches = run(store, "matches", "--csv").stdout
        return read, matches

    held, matches_held = ingest_reading(tmp_path / "held")
    monkeypatch.setattr(NewFrames, "remember", lambda self, video_id, frames: None)
    reread, matches_reread = ingest_reading(tmp_path / "reread")
    # the same matches either way; held in memory, each new video's own frames are never read back
    assert matches_held == matches_reread and matches_held.count("\n") > 3
    assert set(reread) - set(held), "without the held frames each new video is read back"
    assert len(held) < len(reread)


def test_stored_holds_looked_up_at_once_equal_a_lookup_of_each_picture():
    """The held span of each hit's stored picture, found for all hits at once, is what a lookup
    of its (time, region) gives, 0 where the video has no such picture; a time shown twice in a
    region counts with its last span."""
    from vidtrace.held import StoredHolds

    rng = np.random.default_rng(4)
    ts = (rng.integers(0, 40, 200) * 0.125).tolist()
    regions = rng.choice([0, 2, 5], 200).tolist()
    spans = rng.uniform(0, 6, 200)
    by_picture = {(t, r): float(s) for t, r, s in zip(ts, regions, spans.tolist())}  # the last one counts
    q_ts = rng.integers(-2, 45, 500) * 0.125
    q_regions = rng.choice([0, 2, 3, 5], 500)
    found = StoredHolds.of(ts, regions, spans).at(q_ts, q_regions)
    expected = [by_picture.get((t, r), 0.0) for t, r in zip(q_ts.tolist(), q_regions.tolist())]
    assert found.tolist() == expected
    assert len(set(zip(ts, regions))) < len(ts)  # some pictures shown twice


@pytest.mark.parametrize("dense_limit", [10**9, 5_000])
def test_the_frame_table_reads_each_frame_once_and_finds_every_one(monkeypatch, dense_limit):
    # Ids up to the dense limit are found by position; past it (a store whose ids run far) by
    # search: both give each id's own frame, -1 for an id no frame has, and read a frame once.
    from vidtrace import matching

    monkeypatch.setattr(matching, "MAX_DENSE_FRAME_ID", dense_limit)
    rng = np.random.default_rng(7)
    stored = {int(i): (int(i) % 11, int(i) / 8, int(i) % 13) for i in rng.choice(20_000, 3_000, replace=False)}
    read: list[int] = []

    def load(ids):
        read.extend(ids)
        found = [i for i in ids if i in stored]
        return found, [stored[i][0] for i in found], [stored[i][1] for i in found], [stored[i][2] for i in found]

    table = matching.FrameTable(load)
    for _ in range(4):
        ids = rng.integers(0, 20_000, 5_000)
        at = table.lookup(ids)
        for i, a in zip(ids.tolist(), at.tolist()):
            if i in stored:
                assert (table.videos[a], table.ts[a], table.regions[a]) == stored[i]
            else:
                assert a == -1
    assert len(read) == len(set(read))  # none read twice, present or absent
    assert len(table.lookup(np.zeros(0, dtype=np.int64))) == 0
    known = next(iter(stored))
    assert table.lookup(np.array([-1, known])).tolist() == [-1, table.lookup(np.array([known]))[0]]


def test_work_in_threads_comes_back_in_order_big_items_alone_after_the_others(monkeypatch):
    """`candidates.each`: results in the items' order; an item too big to share the machine runs
    in the calling thread once the others are done; an error reaches the caller."""
    import threading

    from vidtrace import candidates

    monkeypatch.setattr(candidates, "ALIGN_THREADS", 2)
    monkeypatch.setattr(candidates, "MAX_THREADED_ORDER_ENTRIES", 100)
    caller = threading.current_thread()
    ran: list[tuple[int, bool]] = []

    def work(k: int) -> int:
        ran.append((k, threading.current_thread() is caller))
        return k * k

    items = list(range(8))
    sizes = [1, 1, 500, 1, 1, 1, 500, 1]  # times 1: items 2 and 6 pass the limit
    assert candidates.each(work, items, sizes, 1) == [k * k for k in items]
    in_caller = sorted(k for k, mine in ran if mine)
    assert in_caller == [2, 6]
    assert [k for k, _ in ran][-2:] == [2, 6]  # after the threaded ones
    monkeypatch.setattr(candidates, "ALIGN_THREADS", 1)
    ran.clear()
    assert candidates.each(work, items, [1] * 8, 1) == [k * k for k in items]
    assert all(mine for _, mine in ran)

    def fails(k: int) -> int:
        if k == 3:
            raise ValueError("item 3")
        return k

    monkeypatch.setattr(candidates, "ALIGN_THREADS", 2)
    with pytest.raises(ValueError, match="item 3"):
        candidates.each(fails, items, [1] * 8, 1)

    # Work handed to the pool from one of its own threads runs there, in order, without waiting
    # on the pool (which could leave no thread free to do it).
    def nested(k: int) -> list[int]:
        return candidates.each(work, [k, k + 1, k + 2], [1, 1, 1], 1)

    assert candidates.each(nested, items, [1] * 8, 1) == [[k * k, (k + 1) ** 2, (k + 2) ** 2] for k in items]


def test_candidates_aligned_in_threads_give_the_matches_of_one_thread(monkeypatch):
    """Copies, excerpts and unrelated candidates aligned in threads (and the big ones alone) give
    the matches a loop gives, in the same order."""
    from vidtrace import candidates, matching

    rng = np.random.default_rng(3)
    ts = [round(k * 0.125, 3) for k in range(240)]
    codes = rng.integers(0, 256, (len(ts), 8), dtype=np.uint8)
    query = matching.prepare(ts, codes, 30.0, Settings(), [REGION_FRAME] * len(ts))
    hits: dict[int, matching.KeptHits] = {}
    for video_id in range(1, 9):
        start, offset = int(rng.integers(0, 120)), float(rng.integers(0, 40)) * 0.125
        rows = np.arange(start, len(ts)) if video_id % 3 else np.zeros(0, dtype=np.int64)  # unrelated: noise only
        noise = rng.choice(len(ts), 40)
        all_rows = np.concatenate([rows, noise])
        r_ts = np.concatenate([np.asarray(ts)[rows] + offset, np.round(rng.uniform(0, 40, len(noise)), 3)])
        dists = np.concatenate([rng.integers(0, 4, len(rows)), rng.integers(0, 11, len(noise))])
        hits[video_id] = matching.KeptHits([all_rows], [r_ts], [np.full(len(all_rows), REGION_FRAME)], [dists])
    durations = dict.fromkeys(hits, 40.0)
    stored = {
        v: ([float(t) for t in np.arange(0, 40, 0.125)], [rng.bytes(8) for _ in range(320)], [REGION_FRAME] * 320)
        for v in hits
    }

    def matches() -> list:
        first = candidates.aligning(query, hits, durations, Settings())
        return [(v, len(c), plan.lines) for v, c, plan in first], candidates.finish(
            query, first, stored, durations, Settings()
        )

    monkeypatch.setattr(candidates, "ALIGN_THREADS", 1)
    first_alone, alone = matches()
    assert sorted(m.video_id for m in alone) == [1, 2, 4, 5, 7, 8]  # the noise aligns nowhere
    monkeypatch.setattr(candidates, "ALIGN_THREADS", 2)
    first_threaded, threaded = matches()
    monkeypatch.setattr(candidates, "MAX_THREADED_ORDER_ENTRIES", 5_000)
    first_mixed, mixed = matches()
    for other in (first_threaded, first_mixed):
        assert [(v, n) for v, n, _ in other] == [(v, n) for v, n, _ in first_alone]
        assert all(
            [(s, list(p)) for s, p in a] == [(s, list(p)) for s, p in b]
            for (_, _, a), (_, _, b) in zip(other, first_alone)
        )
    assert threaded == alone and mixed == alone
