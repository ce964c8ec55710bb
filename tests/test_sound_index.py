"""The sound index against its brute-force oracle, and its file beside the store."""

from __future__ import annotations

import numpy as np
import pytest

from vidtrace.index.sounds import SoundIndex
from vidtrace.sound import brute_distances


def _stored(rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Random prints, the later ones noisy copies of stretches of the earlier (hits near the radius)."""
    prints = {v: rng.integers(0, 2**32, size=int(rng.integers(1, 300)), dtype=np.uint32) for v in (3, 8, 21)}
    for v in (34, 55):
        source = prints[int(rng.choice([3, 8, 21]))]
        noise = np.zeros(len(source), dtype=np.uint32)
        for _ in range(int(rng.integers(0, 9))):  # up to 8 flipped bits per value
            noise |= np.uint32(1) << rng.integers(0, 32, size=len(source), dtype=np.uint32)
        prints[v] = source ^ noise
    return prints


def _oracle(queries: np.ndarray, prints: dict[int, np.ndarray], max_bits: int) -> set[tuple[int, int, int, int]]:
    found = set()
    for video_id, values in prints.items():
        d = brute_distances(queries, values)
        for row, pos in zip(*np.nonzero(d <= max_bits)):
            found.add((int(row), video_id, int(pos), int(d[row, pos])))
    return found


def _index(prints: dict[int, np.ndarray]) -> SoundIndex:
    index = SoundIndex()
    for print_id, (video_id, values) in enumerate(prints.items(), start=1):
        index.add(print_id, video_id, values)
    return index


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_bits", [0, 3, 6, 9])
def test_search_returns_exactly_what_the_oracle_returns(seed, max_bits):
    rng = np.random.default_rng(seed)
    prints = _stored(rng)
    index = _index(prints)
    queries = np.concatenate([prints[34][:40], prints[55][-40:], rng.integers(0, 2**32, size=20, dtype=np.uint32)])
    rows, videos, positions, dists = index.search(queries, max_bits)
    got = set(zip(rows.tolist(), videos.tolist(), positions.tolist(), dists.tolist()))
    assert len(got) == len(rows)  # no hit twice
    assert got == _oracle(queries, prints, max_bits)


def test_a_value_exactly_at_the_radius_is_found():
    index = _index({7: np.array([0b1111], dtype=np.uint32)})
    rows, videos, positions, dists = index.search(np.array([0], dtype=np.uint32), 4)
    assert (rows.tolist(), videos.tolist(), positions.tolist(), dists.tolist()) == ([0], [7], [0], [4])
    assert len(index.search(np.array([0], dtype=np.uint32), 3)[0]) == 0


def test_saved_index_loads_the_same_and_a_changed_record_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    prints = _stored(rng)
    index = _index(prints)
    path = tmp_path / "sounds.faiss"
    index.save(path)
    loaded = SoundIndex.load(path)
    assert loaded is not None and loaded.coverage() == index.coverage() and loaded.videos == index.videos
    queries = prints[34][:30]
    assert [a.tolist() for a in loaded.search(queries, 5)] == [a.tolist() for a in index.search(queries, 5)]
    record = path.with_name("sounds.faiss.json")
    record.write_text(record.read_text().replace('"values": ', '"values": 1'))
    assert SoundIndex.load(path) is None
    record.unlink()
    assert SoundIndex.load(path) is None


def test_a_print_without_values_is_held_but_adds_nothing():
    index = SoundIndex()
    index.add(1, 5, np.zeros(0, dtype=np.uint32))
    assert len(index) == 0 and index.videos == {5} and index.coverage().count == 0


def test_each_videos_values_come_back_from_the_index_built_or_loaded(tmp_path):
    rng = np.random.default_rng(2)
    prints = _stored(rng)
    index = _index(prints)
    index.add(9, 99, np.zeros(0, dtype=np.uint32))  # no soundtrack: nothing to give back
    path = tmp_path / "sounds.faiss"
    index.save(path)
    loaded = SoundIndex.load(path)
    for source in (index, loaded):
        for video_id, values in prints.items():
            got = source.values_of(video_id)
            assert got.dtype == np.uint32 and got.tolist() == values.tolist()
        assert source.values_of(99) is None and source.values_of(12345) is None
    loaded.add(10, 77, prints[3][:5])  # added after the values were read from the file
    assert loaded.values_of(77).tolist() == prints[3][:5].tolist()
    empty = tmp_path / "empty.faiss"
    SoundIndex().save(empty)
    assert SoundIndex.load(empty).values_of(3) is None  # a store without soundtracks


def test_a_stored_prints_held_spans_are_measured_once_per_video_and_settings(monkeypatch):
    from dataclasses import replace

    from vidtrace import sound
    from vidtrace.index import sounds
    from vidtrace.settings import Settings

    index = _index({4: np.arange(10, dtype=np.uint32)})
    calls = []

    def measure(values, step_s, settings):
        calls.append(len(values))
        return sound.held_spans(values, step_s, settings)

    monkeypatch.setattr(sounds, "held_spans", measure)
    settings = Settings()
    first = index.held_of(4, sound.SOUND_STEP_S, settings)
    again = index.held_of(4, sound.SOUND_STEP_S, settings)
    other = index.held_of(4, sound.SOUND_STEP_S, replace(settings, max_echo_span_s=settings.max_echo_span_s + 1))
    assert calls == [10, 10] and first is again and other.tolist() == first.tolist()
    assert first.tolist() == sound.held_spans(np.arange(10, dtype=np.uint32), sound.SOUND_STEP_S, settings).tolist()
    assert index.held_of(5, sound.SOUND_STEP_S, settings) is None  # no print
