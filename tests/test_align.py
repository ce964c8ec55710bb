"""Temporal alignment on synthetic frame hits: copies, compilations, coincidences, invariants."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidtrace.align import Alignment, FrameHit, align
from vidtrace.settings import Settings

S = Settings()
STEP = S.hash_interval_s  # seconds between hashed pictures (0.125 s by default)
EPS = 1e-3  # segment bounds are rounded to the millisecond


def samples(start: float, end: float, phase: float = 0.0) -> list[float]:
    """Sampling instants start+phase, start+phase+STEP, ... strictly before `end`."""
    out, k = [], 0
    while start + phase + k * STEP < end - 1e-9:
        out.append(round(start + phase + k * STEP, 3))
        k += 1
    return out


def copy_hits(q_start: float, q_end: float, offset: float, phase: float = 0.0, distance: int = 2) -> list[FrameHit]:
    """The hits a true copy gives: each query sample hits the reference sample `offset` later.

    `phase` is the shift between the two videos' sampling grids (|phase| < STEP).
    """
    return [FrameHit(q, round(q + offset + phase, 3), distance) for q in samples(q_start, q_end)]


def close(a: float, b: float, tol: float = STEP) -> bool:
    return abs(a - b) <= tol + EPS


# --- (1) a true copy ------------------------------------------------------------------------


@pytest.mark.parametrize("phase_steps", [0.0, 1.0, -0.8])
def test_true_copy_gives_one_segment_with_exact_bounds(phase_steps):
    phase = phase_steps * STEP
    # The query (20 s) is the reference's seconds 5-25 (reference 40 s long).
    hits = copy_hits(0.0, 20.0, offset=5.0, phase=phase)
    result = align(hits, q_duration_s=20.0, r_duration_s=40.0, settings=S)
    assert result is not None
    assert len(result.segments) == 1
    seg = result.segments[0]
    assert close(seg.q_start, 0.0) and close(seg.q_end, 20.0), seg
    assert close(seg.r_start, 5.0) and close(seg.r_end, 25.0), seg
    assert seg.speed == 1.0
    assert seg.frames == round(20.0 / STEP)
    assert seg.mean_distance_bits == 2.0
    assert result.matched_s == pytest.approx(20.0, abs=STEP)
    assert result.score == pytest.approx(1.0, abs=0.03)


def test_true_copy_with_neighbour_hits_and_noise_still_one_segment():
    # Slow scenes also match the neighbouring reference samples, at a larger distance; a few
    # unrelated coincidences are scattered around.
    rng = random.Random(7)
    hits = copy_hits(0.0, 20.0, offset=5.0, distance=1)
    hits += [FrameHit(h.q_ts, h.r_ts + d, 6) for h in hits for d in (-STEP, STEP) if 0 <= h.r_ts + d <= 40]
    hits += [FrameHit(rng.choice(samples(0, 20)), rng.choice(samples(0, 40)), 9) for _ in range(10)]
    rng.shuffle(hits)
    result = align(hits, 20.0, 40.0, S)
    assert result is not None
    assert len(result.segments) == 1
    seg = result.segments[0]
    assert close(seg.q_start, 0.0) and close(seg.q_end, 20.0), seg
    assert close(seg.r_start, 5.0) and close(seg.r_end, 25.0), seg
    assert seg.mean_distance_bits == pytest.approx(1.0, abs=0.5)  # the closest frame is chosen
    assert result.score == pytest.approx(1.0, abs=0.03)


def test_static_scene_echoes_do_not_shift_the_offset():
    # Regression: every query frame also matches the reference frames up to 1 s either side
    # (a slow scene), a little less closely. The true offset (5 s) must win, not the left-most echo
    # (the offset window used to stop at the first window reaching the most query times, 4 s).
    hits = [
        FrameHit(h.q_ts, h.r_ts + e, 1 if e == 0 else 4)
        for h in copy_hits(0.0, 20.0, offset=5.0)
        for e in (-1.0, -STEP, 0.0, STEP, 1.0)
        if 0 <= h.r_ts + e <= 40
    ]
    result = align(hits, 20.0, 40.0, S)
    assert result is not None and len(result.segments) == 1
    seg = result.segments[0]
    assert close(seg.r_start, 5.0) and close(seg.r_end, 25.0), seg
    assert seg.mean_distance_bits == pytest.approx(1.0, abs=0.5), seg


def test_partial_copy_score_is_share_of_shorter_video():
    # 10 s of a 40 s query copy 10 s of a 20 s reference: half of the shorter video.
    hits = copy_hits(12.0, 22.0, offset=-8.0)
    result = align(hits, 40.0, 20.0, S)
    assert result is not None and len(result.segments) == 1
    seg = result.segments[0]
    assert close(seg.q_start, 12.0) and close(seg.q_end, 22.0)
    assert close(seg.r_start, 4.0) and close(seg.r_end, 14.0)
    assert result.score == pytest.approx(0.5, abs=0.03)


def test_hit_order_does_not_matter():
    hits = copy_hits(0.0, 8.0, offset=30.0) + copy_hits(10.0, 20.0, offset=-6.0)
    shuffled = hits[:]
    random.Random(1).shuffle(shuffled)
    assert align(hits, 20.0, 60.0, S) == align(shuffled, 20.0, 60.0, S)


# --- (2) a compilation ----------------------------------------------------------------------


def test_compilation_gives_one_segment_per_stretch():
    # Query seconds 0-8 are reference seconds 30-38; query seconds 10-20 are reference 4-14.
    hits = copy_hits(0.0, 8.0, offset=30.0, phase=0.1) + copy_hits(10.0, 20.0, offset=-6.0, phase=-0.1)
    result = align(hits, q_duration_s=20.0, r_duration_s=60.0, settings=S)
    assert result is not None
    assert len(result.segments) == 2
    first, second = result.segments
    assert close(first.q_start, 0.0) and close(first.q_end, 8.0), first
    assert close(first.r_start, 30.0) and close(first.r_end, 38.0), first
    assert close(second.q_start, 10.0) and close(second.q_end, 20.0), second
    assert close(second.r_start, 4.0) and close(second.r_end, 14.0), second
    assert result.matched_s == pytest.approx(18.0, abs=2 * STEP)
    assert result.score == pytest.approx(18.0 / 20.0, abs=0.05)


def test_a_segment_containing_an_accepted_one_is_an_echo():
    # Regression (found by test_alignment_invariants): 11 dense frames at offset 0 over query
    # seconds 0-5.5, and 10 sparser frames at offset 2 over query seconds 0-11. The second used
    # to be kept because the overlap (all 5.5 s of the first) was compared with half of its own
    # length only, so query seconds 0-5.5 were reported as matching two places.
    hits = [FrameHit(q, q, 4) for q in samples(0.0, 5.5)]
    hits += [FrameHit(q, q + 2.0, 4) for q in (0.0, 2.0, 2.5, 5.0, 5.5, 6.5, 7.0, 7.5, 9.0, 11.0)]
    result = align(hits, 11.5, 13.0, S)
    assert result is not None
    assert len(result.segments) == 1, result.segments
    assert result.segments[0].frames == len(samples(0.0, 5.5))
    assert close(result.segments[0].q_start, 0.0) and close(result.segments[0].r_start, 0.0)


def test_same_offset_with_long_gap_splits_into_two_segments():
    # One offset, but 6 s of the query in the middle are something else (longer than max_gap_s).
    hits = copy_hits(0.0, 7.0, offset=3.0) + copy_hits(13.0, 20.0, offset=3.0)
    result = align(hits, 20.0, 30.0, S)
    assert result is not None
    assert [(close(s.q_start, a), close(s.q_end, b)) for s, a, b in zip(result.segments, (0, 13), (7, 20))] == [
        (True, True),
        (True, True),
    ]
    assert len(result.segments) == 2


# --- (3) coincidences are not copies --------------------------------------------------------


def test_shared_one_second_title_card_is_not_a_copy():
    # Both videos open with the same 1 s card (static: every card frame matches every other),
    # and the reference shows it again at its end.
    card_q = samples(0.0, 1.0)
    card_r = samples(0.0, 1.0) + samples(59.0, 60.0)
    hits = [FrameHit(q, r, 0) for q in card_q for r in card_r]
    assert align(hits, 30.0, 60.0, S) is None


def test_two_seconds_of_black_is_not_a_copy():
    # Shorter than min_segment_s, even with enough frames.
    black = samples(10.0, 12.0)
    assert len(black) >= S.min_segment_frames
    hits = [FrameHit(q, q + 20.0, 0) for q in black]
    assert align(hits, 30.0, 60.0, S) is None


def test_a_held_picture_in_the_query_is_not_evidence():
    # Two different videos under the same large static logo: the logo-dominated query frames hit
    # a line of reference frames, but each looks like the query's own frames for seconds around it.
    line = copy_hits(0.0, 6.0, offset=0.2)
    assert align(line, 6.0, 6.0, S) is not None  # the same hits from moving content are a copy
    held = [FrameHit(h.q_ts, h.r_ts, h.distance_bits, held_s=5.5) for h in line]
    assert align(held, 6.0, 6.0, S) is None
    # A few held frames inside a moving copy do not break it.
    mixed = [FrameHit(h.q_ts, h.r_ts, h.distance_bits, held_s=5.5 if 2.0 <= h.q_ts < 2.5 else 0.0) for h in line]
    assert align(mixed, 6.0, 6.0, S) is not None


@pytest.mark.parametrize("moving_s, matches", [(1.0, False), (1.375, False), (1.5, True), (2.0, True)])
def test_a_short_clip_held_before_and_after_its_motion_is_a_copy(moving_s, matches):
    # A 3.1 s talking head whose face moves for `moving_s` in the middle and holds still around
    # it, found 3 s into a copy with an intro card: the held pictures on the line count for the
    # segment's length once its distinctive frames span min_distinct_s (1.5 s).
    start = round((3.125 - moving_s) / 2 / STEP) * STEP
    hits = [
        FrameHit(h.q_ts, h.r_ts, h.distance_bits, held_s=0.0 if start <= h.r_ts < start + moving_s else 2.9)
        for h in copy_hits(3.0, 6.125, offset=-3.0)
    ]  # fmt: skip
    result = align(hits, 8.125, 3.125, S)
    assert (result is not None) == matches
    if matches:
        (segment,) = result.segments
        assert close(segment.q_start, 3.0) and close(segment.q_end, 6.125) and close(segment.r_start, 0.0)


@pytest.mark.parametrize("every, matches", [(1, True), (2, True), (3, False)])
def test_distinctive_frames_spanning_less_than_a_segment_must_be_dense(every, matches):
    # Under a static logo shared by two videos every picture is held; pictures alike by chance
    # are scattered over the line, a short clip's moving stretch is continuous.
    distinct = samples(2.0, 3.75)[::every]
    hits = [
        FrameHit(h.q_ts, h.r_ts, h.distance_bits, held_s=0.0 if h.q_ts in distinct else 3.0)
        for h in copy_hits(1.0, 4.25, offset=-1.0)
    ]  # fmt: skip
    assert (align(hits, 6.0, 6.0, S) is not None) == matches


@pytest.mark.parametrize("bits, matches", [(2, True), (5, True), (6, False), (8, False)])
def test_distinctive_frames_spanning_less_than_a_segment_must_be_close(bits, matches):
    # Two stretches of one recording (a child pulling the same faces 2 s apart) give a line of
    # dense moving pictures alike at 6 to 8 bits; a re-encode's lie at 0 to 3.
    hits = [
        FrameHit(h.q_ts, h.r_ts, bits, held_s=0.0 if 1.5 <= h.q_ts < 3.625 else 3.0)
        for h in copy_hits(1.0, 4.25, offset=-1.0)
    ]  # fmt: skip
    assert (align(hits, 6.0, 6.0, S) is not None) == matches
    # Spanning a whole segment, the same pictures are a copy at any distance within the limit.
    assert align([FrameHit(h.q_ts, h.r_ts, bits) for h in hits], 6.0, 6.0, S) is not None


def test_held_pictures_on_the_line_say_where_a_segment_runs_not_when():
    # A talking head held still before the stretch a stored excerpt keeps: the held picture
    # matches the excerpt's first second (1.2 s off the true offset, inside the line's window).
    # Only the moving pictures give the speed and offset; the held ones before the excerpt
    # starts are cut there: no "slowed down", no segment starting before the excerpt does.
    held = [FrameHit(q, round(q - 2.34, 3), 1, held_s=5.0) for q in samples(2.375, 3.5)]
    moving = copy_hits(3.5, 8.25, offset=-3.5, distance=1)
    result = align(held + moving, 11.8, 4.75, S)
    assert result is not None
    (segment,) = result.segments
    assert segment.speed == 1.0 and segment.edits == ()
    assert close(segment.q_start, 3.5) and close(segment.r_start, 0.0)
    assert close(segment.q_end, 8.25) and close(segment.r_end, 4.75)


def test_the_segment_with_more_evidence_wins_over_one_with_more_held_frames():
    # A child pulling the same face again 2 s later, then holding still: that line's held
    # pictures outnumber the true line's frames, its moving pictures do not. The true line is
    # the copy, the other its echo (they overlap in the stored video).
    true_line = copy_hits(1.0, 4.5, offset=-1.0)
    again = [FrameHit(h.q_ts, h.r_ts, 3, held_s=0.0 if h.q_ts < 5.0 else 5.5) for h in copy_hits(3.0, 9.0, offset=-3.0)]
    assert len(again) > len(true_line) > len([h for h in again if h.held_s == 0.0])
    result = align(true_line + again, 9.0, 6.0, S)
    assert result is not None
    (segment,) = result.segments
    assert close(segment.q_start, 1.0) and close(segment.r_start, 0.0) and close(segment.q_end, 4.5)


def test_of_two_lines_with_as_much_evidence_the_closer_one_wins():
    # A 3 s excerpt of a recording whose face looks alike 4 s earlier: the true moment and the
    # alike one line up as many moving pictures, the alike one at 8 bits with held pictures
    # besides (more frames), the true one at 2. They overlap in the excerpt: one is the other's
    # echo, and the true one is the copy.
    true_line = [FrameHit(q, round(q - 6.0, 3), 2) for q in samples(6.0, 9.0)[::2]]
    alike = [FrameHit(q, round(q - 2.0, 3), 8) for q in samples(2.0, 5.0)[::2]]
    held = [FrameHit(q, round(q - 2.0, 3), 8, held_s=5.0) for q in samples(2.0, 5.0)[1::2]]
    assert len(true_line) == len(alike)
    result = align(true_line + alike + held, 9.0, 3.0, S)
    assert result is not None
    (segment,) = result.segments
    assert close(segment.q_start, 6.0) and close(segment.r_start, 0.0), segment


def test_distinctive_frames_spanning_long_enough_still_need_the_segment_to_last():
    # 2 s of moving pictures alike and nothing held around them: shorter than min_segment_s.
    assert S.min_distinct_s < 2.0 < S.min_segment_s
    assert align(copy_hits(10.0, 12.0, offset=5.0), 30.0, 30.0, S) is None


@pytest.mark.parametrize("changes, matches", [(0, False), (1, False), (2, False), (3, True), (5, True)])
def test_held_pictures_are_evidence_when_enough_changes_between_them_line_up(changes, matches):
    # A slideshow: every picture is held, but the slides change at the same instants in both
    # videos. A shared title card, or a card at each end, gives one or two such changes.
    slide_changes = [6.0 * (k + 1) for k in range(changes)]
    hits = [
        FrameHit(h.q_ts, h.r_ts, h.distance_bits, held_s=5.5,
                 change_s=next((c for c in slide_changes if abs(c - h.q_ts) <= STEP), None))
        for h in copy_hits(0.0, 36.0, offset=0.0)
    ]  # fmt: skip
    result = align(hits, 36.0, 36.0, S)
    assert (result is not None) == matches
    if matches:
        assert result.matched_s > 35


def test_too_few_frames_is_not_a_copy():
    # Long enough in time, but fewer than min_segment_frames samples.
    hits = [FrameHit(q, q + 4.0, 0) for q in (0.0, 2.5, 5.0)]
    assert align(hits, 30.0, 60.0, S) is None


@pytest.mark.parametrize("instants", [S.min_segment_frames, S.min_segment_instants - 1, S.min_segment_instants])
def test_a_segment_needs_min_segment_instants(instants):
    # Distinctive hits on one line over 3 s: enough frames that are evidence, but a match only
    # with min_segment_instants instants in all (a few change pictures alike by chance are not).
    times = [round(k * 3.0 / (instants - 1), 3) for k in range(instants)]
    hits = [FrameHit(q, q + 4.0, 2) for q in times]
    result = align(hits, 30.0, 60.0, S)
    assert (result is not None) == (instants >= S.min_segment_instants)


def test_no_hits_is_none():
    assert align([], 30.0, 60.0, S) is None


@pytest.mark.parametrize("seed", range(5))
def test_random_scattered_hits_are_none(seed):
    # Every hit at its own random offset: no two offsets within 2 * offset_tolerance_s.
    rng = random.Random(seed)
    offsets = rng.sample(range(-50, 50), 40)
    hits = []
    for slot in offsets:
        offset = slot * 2.0  # distinct slots 2 s apart: wider than the 1.5 s offset window
        q = rng.choice(samples(0.0, 60.0))
        hits.append(FrameHit(q, q + offset, rng.randint(0, 10)))
    assert align(hits, 60.0, 200.0, S) is None


@settings(deadline=None, max_examples=60)
@given(
    slots=st.lists(st.integers(-60, 60), min_size=0, max_size=30, unique=True),
    per_slot=st.integers(1, S.min_segment_frames - 1),
    seed=st.integers(0, 2**16),
)
def test_scattered_hits_fewer_than_min_frames_per_offset_are_none(slots, per_slot, seed):
    rng = random.Random(seed)
    hits = []
    for slot in slots:
        for q in rng.sample(samples(0.0, 60.0), per_slot):
            hits.append(FrameHit(q, q + slot * 2.0 + rng.uniform(-0.2, 0.2), rng.randint(0, 10)))
    assert align(hits, 60.0, 200.0, S) is None


# --- (4) the reference's point of view ------------------------------------------------------


def _check_swap(result: Alignment) -> None:
    flipped = result.swapped()
    assert flipped.score == result.score
    assert len(flipped.segments) == len(result.segments)
    assert [s.q_start for s in flipped.segments] == sorted(s.q_start for s in flipped.segments)
    originals = sorted(result.segments, key=lambda s: s.r_start)
    for f, o in zip(flipped.segments, originals):
        assert (f.q_start, f.q_end, f.r_start, f.r_end) == (o.r_start, o.r_end, o.q_start, o.q_end)
        assert f.speed == pytest.approx(1.0 / o.speed, abs=1e-4)
        assert (f.frames, f.mean_distance_bits) == (o.frames, o.mean_distance_bits)
    again = flipped.swapped()
    assert [(s.q_start, s.q_end, s.r_start, s.r_end) for s in again.segments] == [
        (s.q_start, s.q_end, s.r_start, s.r_end) for s in result.segments
    ]


def test_swapped_flips_sides_of_a_copy():
    result = align(copy_hits(0.0, 20.0, offset=5.0), 20.0, 40.0, S)
    assert result is not None
    flipped = result.swapped()
    (seg,) = flipped.segments
    assert close(seg.q_start, 5.0) and close(seg.q_end, 25.0)
    assert close(seg.r_start, 0.0) and close(seg.r_end, 20.0)
    assert flipped.matched_s == pytest.approx(result.matched_s, abs=EPS)
    _check_swap(result)


def test_swapped_compilation_is_sorted_by_the_reference_time():
    result = align(copy_hits(0.0, 8.0, offset=30.0) + copy_hits(10.0, 20.0, offset=-6.0), 20.0, 60.0, S)
    assert result is not None and len(result.segments) == 2
    flipped = result.swapped()
    # From the reference's side, its seconds 4-14 come before its seconds 30-38.
    assert close(flipped.segments[0].q_start, 4.0) and close(flipped.segments[0].r_start, 10.0)
    assert close(flipped.segments[1].q_start, 30.0) and close(flipped.segments[1].r_start, 0.0)
    _check_swap(result)


def test_swapped_equals_aligning_from_the_other_side():
    hits = copy_hits(0.0, 8.0, offset=30.0) + copy_hits(10.0, 20.0, offset=-6.0)
    mirrored = [FrameHit(h.r_ts, h.q_ts, h.distance_bits) for h in hits]
    ours = align(hits, 20.0, 60.0, S)
    theirs = align(mirrored, 60.0, 20.0, S)
    assert ours is not None and theirs is not None
    flipped = ours.swapped()
    assert len(flipped.segments) == len(theirs.segments)
    for a, b in zip(flipped.segments, theirs.segments):
        for x, y in zip((a.q_start, a.q_end, a.r_start, a.r_end), (b.q_start, b.q_end, b.r_start, b.r_end)):
            assert close(x, y)
    assert flipped.score == theirs.score


# --- invariants on random hit sets ----------------------------------------------------------

durations = st.integers(2, 240).map(lambda n: n * 0.5)


@st.composite
def hit_sets(draw):
    q_dur = draw(durations)
    r_dur = draw(durations)
    q_grid = samples(0.0, q_dur)
    r_phase = draw(st.sampled_from([0.0, 0.1, 0.25, 0.4]))
    r_grid = samples(0.0, r_dur, r_phase)
    hits: list[FrameHit] = []
    # Copied stretches: runs of query samples at one offset, possibly with static-scene echoes
    # (neighbouring reference frames) and dropped frames.
    for _ in range(draw(st.integers(0, 4))):
        a = draw(st.integers(0, len(q_grid) - 1))
        b = draw(st.integers(a, min(len(q_grid), a + 80)))
        offset = draw(st.integers(-int(2 * q_dur), int(2 * r_dur))) * 0.5 + r_phase
        echoes = draw(st.sampled_from([(0.0,), (0.0, STEP), (-STEP, 0.0, STEP), (0.0, 1.0, 2.0)]))
        drop = draw(st.floats(0.0, 0.5))
        rnd = random.Random(draw(st.integers(0, 2**16)))
        for q in q_grid[a:b]:
            if rnd.random() < drop:
                continue
            for e in echoes:
                r = round(q + offset + e, 3)
                if 0.0 <= r <= r_dur:
                    hits.append(FrameHit(q, r, rnd.randint(0, 10)))
    # Noise: unrelated coincidences anywhere.
    n_noise = draw(st.integers(0, 40))
    rnd = random.Random(draw(st.integers(0, 2**16)))
    for _ in range(n_noise):
        hits.append(FrameHit(rnd.choice(q_grid), rnd.choice(r_grid) if r_grid else 0.0, rnd.randint(0, 10)))
    rnd.shuffle(hits)
    return hits, q_dur, r_dur


def _check_invariants(result: Alignment, q_dur: float, r_dur: float) -> None:
    segs = result.segments
    assert segs, "an Alignment always has segments"
    for s in segs:
        assert s.q_start < s.q_end, s
        assert s.r_start <= s.r_end, s
        assert -EPS <= s.q_start and s.q_end <= q_dur + EPS, (s, q_dur)
        assert -EPS <= s.r_start and s.r_end <= r_dur + EPS, (s, r_dur)
        assert s.frames >= S.min_segment_frames
        assert s.duration_s >= S.min_segment_s - EPS
        assert 0 <= s.mean_distance_bits <= 10
    assert [s.q_start for s in segs] == sorted(s.q_start for s in segs)
    for i, a in enumerate(segs):
        for b in segs[i + 1 :]:
            overlap = max(0.0, min(a.q_end, b.q_end) - max(a.q_start, b.q_start))
            shorter = min(a.duration_s, b.duration_s)
            assert overlap <= 0.5 * shorter + EPS, (a, b)
    assert 0.0 <= result.score <= 1.0
    assert 0.0 <= result.matched_s <= q_dur + EPS
    assert result.matched_s <= sum(s.duration_s for s in segs) + EPS


@settings(deadline=None, max_examples=300)
@given(hit_sets())
def test_alignment_invariants(case):
    hits, q_dur, r_dur = case
    result = align(hits, q_dur, r_dur, S)
    if result is None:
        return
    _check_invariants(result, q_dur, r_dur)
    # The same alignment from the reference's side satisfies the same invariants, except the
    # no-overlap one, which align enforces on the query's time line.
    _check_swap(result)
    flipped = result.swapped()
    for s in flipped.segments:
        assert -EPS <= s.q_start and s.q_end <= r_dur + EPS
        assert -EPS <= s.r_start and s.r_end <= q_dur + EPS
    assert flipped.matched_s <= r_dur + EPS


@settings(deadline=None, max_examples=100)
@given(hit_sets())
def test_alignment_is_deterministic_and_order_free(case):
    hits, q_dur, r_dur = case
    assert align(hits, q_dur, r_dur, S) == align(list(reversed(hits)), q_dur, r_dur, S)


# --- (4) speed changes, static pictures and edits -----------------------------------------------


@pytest.mark.parametrize("speed", [0.9, 1.1, 1.2])
def test_sped_up_copy_is_one_segment_with_its_speed(speed):
    # The query plays reference seconds 2-22 at `speed`: query time q shows reference 2 + speed*q.
    q_dur = 20.0 / speed
    hits = [FrameHit(q, round(2.0 + speed * q, 3), 1) for q in samples(0.0, q_dur)]
    result = align(hits, q_dur, 30.0, S)
    assert result is not None and len(result.segments) == 1, result
    seg = result.segments[0]
    assert seg.speed == pytest.approx(speed, rel=0.01)
    assert close(seg.q_start, 0.0) and close(seg.q_end, q_dur), seg
    assert close(seg.r_start, 2.0) and close(seg.r_end, 22.0, tol=2 * STEP), seg
    assert ("sped up" if speed > 1 else "slowed down") in seg.edits
    flipped = result.swapped().segments[0]
    assert flipped.speed == pytest.approx(1 / speed, rel=0.01)
    assert ("slowed down" if speed > 1 else "sped up") in flipped.edits


def test_sampling_grid_jitter_is_not_a_speed_change():
    rng = random.Random(3)
    hits = [FrameHit(q, round(q + 5.0 + rng.uniform(-0.12, 0.12), 3), 2) for q in samples(0.0, 20.0)]
    result = align(hits, 20.0, 40.0, S)
    assert result is not None and result.segments[0].speed == 1.0 and result.segments[0].edits == ()


def _read_hits(text: str) -> list[FrameHit]:
    """Hits written as `q>r/bits`, space-separated."""
    out = []
    for item in text.split():
        times, bits = item.split("/")
        q, r = times.split(">")
        out.append(FrameHit(float(q), float(r), int(bits)))
    return out


def test_a_few_hits_off_the_line_do_not_tilt_a_short_copy():
    # A real talking head's last third (3 s) against a copy of it 9 s into a longer video: the
    # moving pictures chosen per instant. Three of the first four also look like pictures up to
    # a second later (the face alike a moment on); a least-squares line through them all was
    # tilted to 0.70, reported "slowed down" 0.8 and 0.42 s off.
    hits = _read_hits(
        "0.04>10.25/6 0.29>10.50/10 0.54>9.50/4 0.79>10.50/8 0.92>9.88/0 1.04>10.00/0 1.17>10.12/2 "
        "1.29>10.25/2 1.42>10.50/2 1.54>10.62/0 1.67>10.62/2 1.79>10.75/4 1.92>10.88/2 2.04>11.12/0 "
        "2.17>11.12/2 2.29>11.25/2 2.42>11.50/4 2.54>11.50/4 2.67>11.62/2 2.79>11.75/0 2.92>11.88/8"
    )
    result = align(hits, 3.0, 14.0, S)
    assert result is not None and len(result.segments) == 1, result
    seg = result.segments[0]
    assert seg.speed == 1.0 and seg.edits == (), seg
    assert close(seg.r_start - seg.q_start, 8.96), seg


def test_evidence_in_steps_at_a_speed_no_copy_plays_is_not_a_copy():
    # A real talking head's 40% excerpt against the first third of the same recording (they share
    # 0.5 s): like poses a few seconds apart line up in held steps, at 8 to 10 bits, slope 0.59,
    # with held pictures around them. It was reported a copy "slowed down" 0.8.
    steps = _read_hits(
        "0.75>0.00/8 1.00>0.00/10 1.88>0.75/8 2.00>0.88/10 2.12>0.88/10 2.25>0.88/8 2.38>1.12/10 "
        "2.50>1.62/4 2.75>1.62/6 3.50>1.62/8 3.62>1.62/8 3.75>1.62/8"
    )
    moving = {h.q_ts for h in steps}
    held = [FrameHit(q, round(max(0.0, q - 2.0), 3), 3, held_s=5.0) for q in samples(0.75, 6.0) if q not in moving]
    assert align(steps + held, 6.0, 5.0, S) is None


def test_a_jump_cut_is_two_segments_not_a_speed_change():
    # Query 0-8 s = reference 0-8 s, then the reference's 8-10 s are cut: query 8-16 = reference 10-18.
    hits = copy_hits(0.0, 8.0, offset=0.0) + copy_hits(8.0, 16.0, offset=2.0)
    result = align(hits, 16.0, 20.0, S)
    assert result is not None
    assert [s.speed for s in result.segments] == [1.0, 1.0]
    assert len(result.segments) == 2


def test_shared_static_intro_card_of_three_seconds_is_not_a_copy():
    # Both videos open with the same 3 s card (every card picture matches every other), then differ.
    card = samples(0.0, 3.0)
    hits = [FrameHit(q, r, 0) for q in card for r in card]
    assert align(hits, 20.0, 20.0, S) is None


def test_static_card_against_a_shorter_card_along_a_slant_is_not_a_copy():
    # A 3 s card in the query, the same card for 2 s in the reference: a slanted line (speed 0.8)
    # joins them, but it lasts less than min_segment_s in the reference.
    hits = [FrameHit(q, r, 0) for q in samples(0.0, 3.0) for r in samples(18.0, 20.0)]
    assert align(hits, 20.0, 21.0, S) is None


def test_edits_shared_by_most_frames_are_reported():
    hits = [FrameHit(h.q_ts, h.r_ts, h.distance_bits, frozenset({"mirrored"})) for h in copy_hits(0.0, 10.0, 3.0)]
    hits[0] = FrameHit(hits[0].q_ts, hits[0].r_ts, 2, frozenset({"padded"}))
    result = align(hits, 10.0, 20.0, S)
    assert result is not None and result.segments[0].edits == ("mirrored",)
    assert result.edits == ("mirrored",)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), speed=st.sampled_from([1.0, 0.9, 1.1]), noise=st.integers(0, 400))
def test_lines_found_once_per_speed_order_equal_lines_sorted_anew(seed, speed, noise):
    """Each speed's order of the hits is sorted once and filtered as lines are taken out; the
    segments are those of sorting the remaining hits anew for every line."""
    import vidtrace.lines as align_module

    rng = random.Random(seed)
    hits = [
        FrameHit(round(k * 0.25, 3), round(3.0 + speed * k * 0.25 + rng.uniform(-0.1, 0.1), 3), rng.randint(0, 8), q_region=rng.choice([0, 0, 2]))
        for k in range(rng.randint(20, 120))
    ]  # fmt: skip
    hits += [
        FrameHit(round(rng.uniform(0, 30), 3), round(rng.uniform(0, 40), 3), rng.randint(0, 10)) for _ in range(noise)
    ]
    rng.shuffle(hits)
    cached = align(hits, 30.0, 40.0, Settings())
    original = align_module.MAX_CACHED_ORDER_ENTRIES
    try:
        align_module.MAX_CACHED_ORDER_ENTRIES = 0
        anew = align(hits, 30.0, 40.0, Settings())
    finally:
        align_module.MAX_CACHED_ORDER_ENTRIES = original
    assert cached == anew


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), grid=st.sampled_from([0.125, 0.04, 1 / 3]))
def test_echo_spans_at_once_equal_each_picture_searched_alone(seed, grid):
    """How far a query picture's hits spread around each hit, found for all hits in one sort,
    equals bisecting each picture's own sorted stored times (boundaries included: times on a
    grid put many hits exactly a window away)."""
    from bisect import bisect_left, bisect_right

    import numpy as np

    from vidtrace.lines import HitColumns, _echo_spans, _Pictures

    rng = random.Random(seed)
    hits = [
        FrameHit(
            rng.randint(0, 12) * grid, rng.randint(0, 200) * grid, rng.randint(0, 10), q_region=rng.choice([0, 2, 5])
        )
        for _ in range(rng.randint(1, 400))
    ]
    window = 2.75
    columns = HitColumns.of(hits)
    order = np.lexsort((columns.r, columns.q))  # in (query time, stored time) order, as line finding holds them
    ordered = columns.take(order)
    spans = np.empty(len(hits))
    spans[order] = _echo_spans(ordered, _Pictures.of(ordered), window)
    for hit, span in zip(hits, spans.tolist()):
        rs = sorted(h.r_ts for h in hits if (h.q_ts, h.q_region) == (hit.q_ts, hit.q_region))
        lo, hi = bisect_left(rs, hit.r_ts - window), bisect_right(rs, hit.r_ts + window)
        assert span == rs[hi - 1] - rs[lo]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), parts=st.integers(1, 3), noise=st.integers(0, 500))
def test_alignment_that_stops_reading_lines_equals_reading_them_all(seed, parts, noise):
    """Alignment stops reading lines once no later one can change which segments are accepted;
    its result is the one of reading every line."""
    import vidtrace.align as align_module

    rng = random.Random(seed)
    hits = []
    for _ in range(parts):
        offset, start, speed = rng.uniform(-5, 20), rng.uniform(0, 20), rng.choice([1.0, 0.9, 1.1])
        hits += [
            FrameHit(round(start + k * 0.125, 3), round(offset + speed * (start + k * 0.125) + rng.uniform(-0.1, 0.1), 3),
                     rng.randint(0, 10), held_s=rng.choice([0.0, 0.0, 5.0]), q_region=rng.choice([0, 2]))
            for k in range(rng.randint(5, 200))
        ]  # fmt: skip
    hits += [
        FrameHit(round(rng.uniform(0, 40) * 8) / 8, round(rng.uniform(0, 50) * 8) / 8, rng.randint(0, 10))
        for _ in range(noise)
    ]
    rng.shuffle(hits)
    stopping = align(hits, 40.0, 50.0, Settings())
    original = align_module._settled
    try:
        align_module._settled = lambda accepted, left, settings: left[0] == 0
        reading_all = align(hits, 40.0, 50.0, Settings())
    finally:
        align_module._settled = original
    assert stopping == reading_all


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    speeds=st.lists(st.sampled_from([0.8, 0.9, 0.96, 1.0, 1.02, 1.1, 1.25]), min_size=1, max_size=3),
    noise=st.integers(0, 300),
)
def test_speeds_skipped_by_their_bound_never_change_the_lines(seed, speeds, noise):
    # A speed whose binned bound cannot beat speed 1.0 by the margin is not searched: the lines
    # found (speed and hits, in order) are those of searching every speed.
    import numpy as np

    from vidtrace import lines

    rng = random.Random(seed)
    hits = []
    for speed in speeds:  # stretches along lines of several speeds, with some hits off them
        start, offset = rng.uniform(0, 30), rng.uniform(-20, 20)
        for k in range(rng.randint(8, 120)):
            q = round(start + k * 0.125, 3)
            hits.append(
                FrameHit(q, round(speed * q + offset + rng.choice([0, 0, 0.125, -0.125]), 3), rng.randint(0, 10))
            )
    for _ in range(noise):
        hits.append(FrameHit(round(rng.uniform(0, 60) * 8) / 8, round(rng.uniform(0, 80) * 8) / 8, rng.randint(0, 10)))
    s = Settings()
    real, least = lines._window_bound, lines.BOUND_MIN_HITS
    skipped = []
    try:
        lines.BOUND_MIN_HITS = 0  # every line bounded, however few its hits
        lines._window_bound = lambda *a: skipped.append(real(*a)) or skipped[-1]
        bounded = lines.plan_lines(hits, s).lines
        lines._window_bound = lambda *a: float("inf")
        every = lines.plan_lines(hits, s).lines
    finally:
        lines._window_bound, lines.BOUND_MIN_HITS = real, least
    assert skipped  # the bound was taken
    assert len(bounded) == len(every)
    for (s1, p1), (s2, p2) in zip(bounded, every):
        assert s1 == s2 and np.array_equal(p1, p2)
