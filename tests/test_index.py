"""The FAISS index contract: search returns exactly what the brute-force oracle returns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import MANIFEST, db_rows, fixture_clip, run
from vidtrace import hashes, threads
from vidtrace.index import (
    FLAT,
    MULTIHASH,
    MULTIHASH_EXACT_BITS,
    MULTIHASH_TABLE_BYTES_PER_FRAME,
    SHARDED,
    Coverage,
    FrameIndex,
    Hit,
    add_digests,
    frame_digest,
    load_index,
    multihash,
    shard_of,
    shard_path,
    sync,
    train_bit_order,
)
from vidtrace.index import frames as frames_module
from vidtrace.layout import record_path
from vidtrace.settings import HASH_VERSION
from vidtrace.store import db

NBITS = 64
NBYTES = NBITS // 8
ALGORITHM, VERSION = "phash64", 1


def _flip(code: np.ndarray, bits: list[int]) -> np.ndarray:
    """A copy of one uint8 code row with the given bit positions flipped."""
    out = code.copy()
    for bit in bits:
        out[bit // 8] ^= np.uint8(1 << (7 - bit % 8))
    return out


def random_data(seed: int, n_refs: int, n_queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered codes (so that many pairs fall near the search radius) with sparse, shuffled ids."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, size=(max(1, n_refs // 6), NBYTES), dtype=np.uint8)

    def near(n: int) -> np.ndarray:
        rows = []
        for _ in range(n):
            centre = centres[rng.integers(len(centres))]
            k = int(rng.integers(0, 16))
            rows.append(_flip(centre, list(rng.choice(NBITS, size=k, replace=False))))
        return np.array(rows, dtype=np.uint8).reshape(n, NBYTES)

    refs, queries = near(n_refs), near(n_queries)
    # Unique, non-contiguous, large and in no particular order, like SQL ids after deletions.
    ids = rng.permutation(np.cumsum(rng.integers(1, 10**6, size=n_refs, dtype=np.int64)))
    return ids, refs, queries


def oracle(ids: np.ndarray, refs: np.ndarray, queries: np.ndarray, max_bits: int) -> list[tuple[int, int, int]]:
    if len(refs) == 0 or len(queries) == 0:
        return []
    dist = hashes.hamming_matrix(queries, refs)
    rows, cols = np.nonzero(dist <= max_bits)
    return sorted((int(r), int(ids[c]), int(dist[r, c])) for r, c in zip(rows, cols))


def as_tuples(hits: list[Hit]) -> list[tuple[int, int, int]]:
    return sorted((h.query_row, h.frame_id, h.distance_bits) for h in hits)


def build(ids: np.ndarray, refs: np.ndarray, chunks: int = 1) -> FrameIndex:
    index = FrameIndex(nbits=NBITS)
    for part_ids, part_refs in zip(np.array_split(ids, chunks), np.array_split(refs, chunks)):
        index.add(part_ids, part_refs)
    return index


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_bits", [0, 4, 10, 20])
def test_search_equals_brute_force_oracle(seed, max_bits):
    ids, refs, queries = random_data(seed, n_refs=300, n_queries=40)
    index = build(ids, refs, chunks=3)
    got = as_tuples(index.search(queries, max_bits))
    expected = oracle(ids, refs, queries, max_bits)
    assert got == expected
    assert len(got) == len(set(got))  # no hit reported twice


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_refs=st.integers(1, 60),
    n_queries=st.integers(1, 10),
    max_bits=st.integers(0, 64),
    chunks=st.integers(1, 3),
)
def test_search_equals_oracle_property(seed, n_refs, n_queries, max_bits, chunks):
    ids, refs, queries = random_data(seed, n_refs, n_queries)
    index = build(ids, refs, chunks=min(chunks, n_refs))
    assert len(index) == n_refs
    assert as_tuples(index.search(queries, max_bits)) == oracle(ids, refs, queries, max_bits)


@pytest.mark.parametrize("max_bits", [0, 1, 6, 10, 31, 63])
def test_radius_is_inclusive_at_exactly_max_and_excludes_max_plus_one(max_bits):
    rng = np.random.default_rng(max_bits)
    query = rng.integers(0, 256, size=NBYTES, dtype=np.uint8)
    bits = list(rng.permutation(NBITS))
    at_max = _flip(query, bits[:max_bits])
    beyond = _flip(query, bits[: max_bits + 1])
    assert hashes.hamming(query.tobytes(), at_max.tobytes()) == max_bits
    assert hashes.hamming(query.tobytes(), beyond.tobytes()) == max_bits + 1

    index = FrameIndex(nbits=NBITS)
    index.add(np.array([1001, 7]), np.stack([at_max, beyond]))
    hits = index.search(query[None, :], max_bits)
    assert as_tuples(hits) == [(0, 1001, max_bits)]


def test_search_reports_each_query_row():
    ids, refs, _ = random_data(3, n_refs=20, n_queries=0)
    index = build(ids, refs)
    queries = refs[[5, 0, 5]]
    hits = index.search(queries, 0)
    rows = {(h.query_row, h.frame_id) for h in hits}
    assert {(0, int(ids[5])), (1, int(ids[0])), (2, int(ids[5]))} <= rows
    assert {h.query_row for h in hits} == {0, 1, 2}


def test_empty_index_search_returns_empty_list():
    index = FrameIndex(nbits=NBITS)
    assert len(index) == 0
    queries = np.zeros((3, NBYTES), dtype=np.uint8)
    assert index.search(queries, 64) == []


def test_search_with_no_queries_returns_empty_list():
    ids, refs, _ = random_data(0, n_refs=10, n_queries=0)
    index = build(ids, refs)
    assert index.search(np.zeros((0, NBYTES), dtype=np.uint8), 64) == []


def test_add_rejects_wrong_shape():
    index = FrameIndex(nbits=NBITS)
    with pytest.raises(ValueError):
        index.add(np.array([1, 2]), np.zeros((2, NBYTES - 1), dtype=np.uint8))
    with pytest.raises(ValueError):
        index.add(np.array([1, 2, 3]), np.zeros((2, NBYTES), dtype=np.uint8))
    assert len(index) == 0


def test_nbits_must_be_whole_bytes():
    with pytest.raises(ValueError):
        FrameIndex(nbits=60)


def test_coverage_describes_the_ids_and_hashes():
    index = FrameIndex(nbits=NBITS)
    ids = np.array([5, 900, 42])
    codes = np.vstack([np.zeros((2, NBYTES), dtype=np.uint8), np.ones((1, NBYTES), dtype=np.uint8)])
    index.add(ids[:2], codes[:2])
    index.add(ids[2:], codes[2:])
    assert index.coverage(ALGORITHM, VERSION) == Coverage(
        ALGORITHM, VERSION, count=3, max_id=900, id_sum=947, digest=frame_digest(ids, codes)
    )
    assert FrameIndex(nbits=NBITS).coverage(ALGORITHM, VERSION) == Coverage(ALGORITHM, VERSION, 0, 0, 0, 0)


def test_digest_ignores_order_but_not_which_id_holds_which_hash():
    rng = np.random.default_rng(3)
    ids = np.arange(1, 1001)
    codes = rng.integers(0, 256, (1000, NBYTES), dtype=np.uint8)
    order = rng.permutation(1000)
    assert frame_digest(ids, codes) == frame_digest(ids[order], codes[order])
    assert frame_digest(ids, codes) != frame_digest(ids, codes[order])  # the same hashes on other ids
    swapped = codes.copy()
    swapped[[10, 11]] = swapped[[11, 10]]
    assert frame_digest(ids, codes) != frame_digest(ids, swapped)
    halves = add_digests(frame_digest(ids[:300], codes[:300]), frame_digest(ids[300:], codes[300:]))
    assert halves == frame_digest(ids, codes)  # frames added later extend the digest


# --- persistence ----------------------------------------------------------------------------


def _saved(
    tmp_path: Path, seed: int = 1, name: str = "frames.index"
) -> tuple[Path, FrameIndex, np.ndarray, np.ndarray, np.ndarray]:
    ids, refs, queries = random_data(seed, n_refs=200, n_queries=30)
    index = build(ids, refs, chunks=2)
    path = tmp_path / "sub" / name
    index.save(path, index.coverage(ALGORITHM, VERSION))
    return path, index, ids, refs, queries


def test_save_load_round_trip_gives_same_results_and_coverage(tmp_path):
    path, index, ids, refs, queries = _saved(tmp_path)
    loaded = FrameIndex.load(path)
    assert loaded is not None
    again, coverage = loaded
    assert coverage == index.coverage(ALGORITHM, VERSION)
    assert again.coverage(ALGORITHM, VERSION) == coverage
    assert again.nbits == NBITS
    assert len(again) == len(index)
    for max_bits in (0, 10, 20):
        got = as_tuples(again.search(queries, max_bits))
        assert got == as_tuples(index.search(queries, max_bits))
        assert got == oracle(ids, refs, queries, max_bits)
    # Nothing temporary is left beside the saved files.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "frames.index",
        "frames.index.json",
    ]


def test_loaded_index_accepts_more_codes(tmp_path):
    path, _, ids, refs, queries = _saved(tmp_path)
    again, _ = FrameIndex.load(path)
    extra = _flip(queries[0], [0])
    again.add(np.array([10**12]), extra[None, :])
    all_ids = np.concatenate([ids, [10**12]])
    all_refs = np.vstack([refs, extra[None, :]])
    assert as_tuples(again.search(queries, 10)) == oracle(all_ids, all_refs, queries, 10)
    assert again.coverage(ALGORITHM, VERSION).count == len(ids) + 1


def test_save_load_empty_index(tmp_path):
    index = FrameIndex(nbits=NBITS)
    path = tmp_path / "empty.index"
    index.save(path, index.coverage(ALGORITHM, VERSION))
    loaded = FrameIndex.load(path)
    assert loaded is not None
    again, coverage = loaded
    assert len(again) == 0 and coverage.count == 0
    assert again.search(np.zeros((1, NBYTES), dtype=np.uint8), 64) == []


def test_load_missing_file_returns_none(tmp_path):
    assert FrameIndex.load(tmp_path / "nothing.index") is None


def test_load_missing_index_with_record_present_returns_none(tmp_path):
    path, *_ = _saved(tmp_path)
    path.unlink()
    assert FrameIndex.load(path) is None


def test_load_missing_record_returns_none(tmp_path):
    path, *_ = _saved(tmp_path)
    Path(str(path) + ".json").unlink()
    assert FrameIndex.load(path) is None


@pytest.mark.parametrize("garbage", [b"", b"not a faiss index at all", bytes(range(256)) * 4])
def test_load_corrupt_index_file_returns_none(tmp_path, garbage):
    path, *_ = _saved(tmp_path)
    path.write_bytes(garbage)
    assert FrameIndex.load(path) is None


def test_load_truncated_index_file_returns_none(tmp_path):
    path, *_ = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert FrameIndex.load(path) is None


@pytest.mark.parametrize("text", ["", "{not json", "\x00\x01"])
def test_load_corrupt_record_returns_none(tmp_path, text):
    path, *_ = _saved(tmp_path)
    Path(str(path) + ".json").write_text(text)
    assert FrameIndex.load(path) is None


def test_load_other_format_returns_none(tmp_path):
    path, *_ = _saved(tmp_path)
    meta_path = Path(str(path) + ".json")
    meta = json.loads(meta_path.read_text())
    meta["format"] = meta["format"] + 1
    meta_path.write_text(json.dumps(meta))
    assert FrameIndex.load(path) is None


@pytest.mark.parametrize("field", ["count", "max_id", "id_sum", "digest"])
def test_load_returns_none_when_record_disagrees_with_index(tmp_path, field):
    path, *_ = _saved(tmp_path)
    meta_path = Path(str(path) + ".json")
    meta = json.loads(meta_path.read_text())
    meta[field] += 1
    meta_path.write_text(json.dumps(meta))
    assert FrameIndex.load(path) is None


def test_load_returns_none_when_index_file_comes_from_another_run(tmp_path):
    path, *_ = _saved(tmp_path, seed=1, name="a.index")
    other, *_ = _saved(tmp_path, seed=2, name="b.index")
    path.write_bytes(other.read_bytes())  # the record still describes run 1
    assert FrameIndex.load(path) is None


# A record that is valid JSON but not the expected object, or whose nbits disagrees with the
# index file, makes the file unusable (so it gets rebuilt), never an exception.


@pytest.mark.parametrize("text", ["[]", '"text"', "null", '{"format": 1}', '{"format": 1, "nbits": "many"}'])
def test_load_malformed_record_returns_none(tmp_path, text):
    path, *_ = _saved(tmp_path)
    Path(str(path) + ".json").write_text(text)
    assert FrameIndex.load(path) is None


def test_load_returns_none_when_record_nbits_disagrees_with_index(tmp_path):
    path, *_ = _saved(tmp_path)
    meta_path = Path(str(path) + ".json")
    meta = json.loads(meta_path.read_text())
    meta["nbits"] = 2 * NBITS
    meta_path.write_text(json.dumps(meta))
    assert FrameIndex.load(path) is None


# --- multi-index hashing (the approximate index for large stores) ---------------------------


def planted_data(seed: int, n_random: int, n_families: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random codes plus families of copies each 0-5 bits from their root (up to 10 apart)."""
    rng = np.random.default_rng(seed)
    roots = rng.integers(0, 256, size=(n_families, NBYTES), dtype=np.uint8)
    members = [
        _flip(
            roots[f],
            list(rng.choice(NBITS, size=int(rng.integers(0, 6)), replace=False)),
        )
        for f in range(n_families)
        for _ in range(int(rng.integers(2, 7)))
    ]
    refs = np.vstack(
        [
            rng.integers(0, 256, size=(n_random, NBYTES), dtype=np.uint8),
            np.array(members),
        ]
    )
    ids = rng.permutation(np.cumsum(rng.integers(1, 1000, size=len(refs), dtype=np.int64)))
    queries = np.array(members)[rng.choice(len(members), size=60, replace=False)]
    return ids, refs, queries


def test_multihash_finds_exactly_what_flat_search_finds_within_eleven_bits():
    ids, refs, queries = planted_data(11, n_random=20_000, n_families=400)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    assert index.kind == MULTIHASH and len(index) == len(ids)
    for max_bits in (10, MULTIHASH_EXACT_BITS):
        expected = oracle(ids, refs, queries, max_bits)
        assert len(expected) > 2 * len(queries)  # the families' members, not only the query itself
        assert as_tuples(index.search(queries, max_bits)) == expected


@pytest.mark.parametrize("n_refs", [3000, 40_000])
def test_multihash_misses_no_pair_however_its_flipped_bits_fall(n_refs):
    # Each query is a stored code with 0 to 11 bits flipped, spread over every substring or all
    # in one: the worst case for probing is every substring differing by radius + 1 but one.
    rng = np.random.default_rng(n_refs)
    ids, refs, _ = random_data(9, n_refs=n_refs, n_queries=0)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    queries = np.array([
        _flip(refs[rng.integers(len(refs))], list(rng.choice(NBITS, size=k, replace=False)))
        for k in range(MULTIHASH_EXACT_BITS + 1) for _ in range(20)
    ])  # fmt: skip
    assert as_tuples(index.search(queries, MULTIHASH_EXACT_BITS)) == oracle(ids, refs, queries, MULTIHASH_EXACT_BITS)
    # Spread evenly: each of the four 16-bit substrings (in the trained order) differs by 2 or 3.
    mh = index._multihash
    spread = [int(b) for t in range(mh.tables) for b in mh.bit_order[t * mh.key_bits : t * mh.key_bits + 3]][:11]
    worst = np.array([_flip(refs[i], spread) for i in range(40)])
    assert as_tuples(index.search(worst, 11)) == oracle(ids, refs, worst, 11)


def test_multihash_searched_past_its_exact_radius_scans_every_frame():
    # A radius set above the default (VIDTRACE_MAX_DISTANCE_BITS=14) still gets flat search's answer,
    # and frames added afterwards are in it.
    ids, refs, queries = random_data(6, n_refs=3000, n_queries=60)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    assert as_tuples(index.search(queries, 14)) == oracle(ids, refs, queries, 14)
    extra = _flip(queries[0], list(range(13)))
    index.add(np.array([10**12]), extra[None, :])
    all_ids, all_refs = np.concatenate([ids, [10**12]]), np.vstack([refs, extra[None, :]])
    assert (0, 10**12, 13) in as_tuples(index.search(queries, 14))
    assert as_tuples(index.search(queries, 14)) == oracle(all_ids, all_refs, queries, 14)


@pytest.mark.parametrize("n", [1_000, 200_000, 10**6, 10**7, 10**8])
def test_multihash_layout_is_exact_within_eleven_bits_and_its_tables_fit_the_budget(n):
    tables, key_bits, radius = multihash.choose_layout(n)
    assert tables * (radius + 1) > MULTIHASH_EXACT_BITS >= 11
    assert tables * key_bits <= 64
    table_bytes = tables * ((1 << key_bits) + 1) * 4
    assert table_bytes <= max(multihash.MULTIHASH_MIN_TABLE_BYTES, MULTIHASH_TABLE_BYTES_PER_FRAME * n)
    if n >= 10**7:
        assert key_bits >= 20  # longer keys once the store pays for their tables


@pytest.mark.parametrize("max_bits", [0, 1, 3, 10])
def test_multihash_equals_oracle_on_clustered_codes(max_bits):
    ids, refs, queries = random_data(5, n_refs=3000, n_queries=60)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    assert as_tuples(index.search(queries, max_bits)) == oracle(ids, refs, queries, max_bits)


def test_multihash_returns_a_pair_met_in_several_tables_once_in_row_order():
    # A stored code searched as it is, or one bit off, agrees within the radius in every
    # substring: every table meets the pair, which must come back once, rows in order.
    ids, refs, _ = random_data(12, n_refs=3000, n_queries=0)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    queries = np.vstack([refs[:50], np.array([_flip(r, [k % NBITS]) for k, r in enumerate(refs[50:100])])])
    rows, found, _ = index.search_arrays(queries, 10)
    assert len(set(zip(rows.tolist(), found.tolist()))) == len(rows)
    assert (np.diff(rows) >= 0).all()
    assert as_tuples(index.search(queries, 10)) == oracle(ids, refs, queries, 10)
    assert {(k, int(ids[k])) for k in range(50)} <= set(zip(rows.tolist(), found.tolist()))


@pytest.mark.parametrize("layout", [(4, 12, 2), (3, 12, 3)])
def test_multihash_in_either_layout_finds_exactly_what_flat_search_finds(layout):
    # The three-table layout is chosen from millions of frames only: forced here on a small set,
    # with families of close codes, so that pairs meet in one, several or every table.
    ids, refs, queries = planted_data(13, n_random=5_000, n_families=300)
    mh = multihash.MultiHash(ids, hashes.rows_to_u64(refs), layout=layout)
    assert mh.layout == layout
    for max_bits in (10, MULTIHASH_EXACT_BITS):
        rows, found, dists = mh.search(hashes.rows_to_u64(queries), max_bits)
        got = sorted(zip(rows.tolist(), found.tolist(), dists.tolist()))
        assert got == oracle(ids, refs, queries, max_bits)
        assert len(set(got)) == len(got) > 2 * len(queries)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_multihash_searches_many_queries_in_blocks_with_their_own_rows(monkeypatch, workers):
    # Queries are probed a block at a time, the blocks in threads; each hit keeps the row of its
    # query in the whole batch.
    monkeypatch.setattr(multihash, "MULTIHASH_QUERY_BLOCK", 16)
    monkeypatch.setattr(threads, "THREADS", workers)
    ids, refs, queries = random_data(8, n_refs=3000, n_queries=100)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    expected = oracle(ids, refs, queries, 10)
    assert len({row // 16 for row, _, _ in expected}) >= 5  # hits in most of the 7 blocks
    assert as_tuples(index.search(queries, 10)) == expected


def test_index_switches_to_multihash_by_size_and_keeps_new_frames_searchable(tmp_path):
    ids, refs, queries = planted_data(3, n_random=500, n_families=40)
    index = FrameIndex(nbits=NBITS, multihash_from=400)
    index.add(ids[:300], refs[:300])
    assert index.kind == FLAT
    index.add(ids[300:], refs[300:])
    assert index.kind == MULTIHASH
    extra = _flip(queries[0], [1])
    index.add(np.array([10**12]), extra[None, :])  # waits in the exact tail
    all_ids, all_refs = (
        np.concatenate([ids, [10**12]]),
        np.vstack([refs, extra[None, :]]),
    )
    assert (0, 10**12, 1) in as_tuples(index.search(queries, 10))
    assert set(as_tuples(index.search(queries, 10))) <= set(oracle(all_ids, all_refs, queries, 10))
    assert index.coverage(ALGORITHM, VERSION).count == len(all_ids)

    path = tmp_path / "frames.index"
    index.save(path, index.coverage(ALGORITHM, VERSION))
    again, coverage = FrameIndex.load(path)
    assert again.kind == MULTIHASH and coverage == index.coverage(ALGORITHM, VERSION)
    assert as_tuples(again.search(queries, 10)) == as_tuples(index.search(queries, 10))
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "frames.index",
        "frames.index.json",
    ]


def test_flat_index_stays_flat_when_switching_is_off():
    ids, refs, _ = random_data(2, n_refs=300, n_queries=0)
    index = FrameIndex(nbits=NBITS, multihash_from=None)
    index.add(ids, refs)
    assert index.kind == FLAT
    assert FrameIndex.build(ids, refs, kind=FLAT).kind == FLAT


@pytest.mark.parametrize("garbage", [b"", b"PK\x03\x04 not a zip", bytes(range(256)) * 4])
def test_load_corrupt_multihash_file_returns_none(tmp_path, garbage):
    ids, refs, _ = random_data(4, n_refs=500, n_queries=0)
    index = FrameIndex.build(ids, refs, kind=MULTIHASH)
    path = tmp_path / "frames.index"
    index.save(path, index.coverage(ALGORITHM, VERSION))
    assert FrameIndex.load(path) is not None
    path.write_bytes(garbage)
    assert FrameIndex.load(path) is None


def test_trained_bit_order_leaves_constant_and_copied_bits_out_of_the_keys():
    # pHash-like: bit 0 is always set (the DC term), bit 9 copies bit 8; the rest are random.
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 2**63, size=5000, dtype=np.int64).astype(np.uint64)
    codes |= np.uint64(1 << 63)
    bit8 = (codes >> np.uint64(55)) & np.uint64(1)
    codes = (codes & ~np.uint64(1 << 54)) | (bit8 << np.uint64(54))
    order = train_bit_order(codes, key_bits=12)
    assert sorted(order.tolist()) == list(range(64))
    keys = order[:24].tolist()
    assert 0 not in keys
    assert not {8, 9} <= set(keys)


def test_bit_permutation_round_trips_and_keeps_distances():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 2**63, size=500, dtype=np.int64).astype(np.uint64)
    order = rng.permutation(64)
    permuted = hashes.permute_bits(codes, order)
    assert (hashes.permute_bits(permuted, np.argsort(order)) == codes).all()
    assert (hashes.popcount(codes[0] ^ codes) == hashes.popcount(permuted[0] ^ permuted)).all()


def test_multihash_memory_is_its_per_frame_arrays_plus_bounded_tables():
    # Per frame: the code (8 bytes), the packed id (3) and, in each other table, a packed
    # position (3) and 32 bits of the code (4); the bucket tables within their budget.
    rng = np.random.default_rng(4)
    n = 300_000
    codes = rng.integers(0, 256, size=(n, NBYTES), dtype=np.uint8)
    index = FrameIndex.build(np.arange(10**9, 10**9 + n), codes, kind=MULTIHASH)
    tables = index._multihash.tables
    per_frame = 8 + 3 + (tables - 1) * (3 + 4)
    budget = max(multihash.MULTIHASH_MIN_TABLE_BYTES, MULTIHASH_TABLE_BYTES_PER_FRAME * n)
    assert index.nbytes() <= per_frame * n + budget + 1024
    assert index.nbytes() <= 4.5 * NBYTES * n
    got_ids, got_codes = index.contents_u64()
    order = np.argsort(got_ids)
    assert (got_ids[order] == np.arange(10**9, 10**9 + n)).all()
    assert (got_codes[order] == hashes.rows_to_u64(codes)).all()


def test_multihash_rebuilt_with_new_frames_keeps_its_trained_bit_order(monkeypatch):
    monkeypatch.setattr(frames_module, "MULTIHASH_MIN_TAIL", 100)
    ids, refs, queries = planted_data(5, n_random=55_000, n_families=60)
    index = FrameIndex.build(ids[:50_000], refs[:50_000], kind=MULTIHASH)
    assert multihash.choose_layout(50_000) == multihash.choose_layout(len(ids))
    order = index._multihash.bit_order.copy()
    index.add(ids[50_000:50_050], refs[50_000:50_050])
    assert len(index._flat) == 50  # waiting in the flat tail
    index.add(ids[50_050:], refs[50_050:])
    assert len(index._flat) == 0 and len(index._multihash) == len(ids)  # rebuilt
    assert (index._multihash.bit_order == order).all()
    assert as_tuples(index.search(queries, 10)) == oracle(ids, refs, queries, 10)


# --- shards ---------------------------------------------------------------------------------


def _shard_data(seed: int):
    """Planted near-duplicate data with a video id per frame (frames of a video are contiguous)."""
    ids, refs, queries = planted_data(seed, n_random=3000, n_families=80)
    order = np.argsort(ids)
    ids, refs = ids[order], refs[order]
    video_ids = np.repeat(np.arange(1, len(ids) // 7 + 2), 7)[: len(ids)]
    return ids, refs, queries, video_ids


@pytest.mark.parametrize("kind", [FLAT, MULTIHASH])
def test_shards_built_separately_search_like_one_index(tmp_path, kind):
    ids, refs, queries, video_ids = _shard_data(6)
    path = tmp_path / "frames.faiss"
    n_shards = 3
    for k in range(n_shards):  # each shard on its own, as separate machines would
        mine = shard_of(video_ids, n_shards) == k
        part = FrameIndex.build(ids[mine], refs[mine], kind=kind)
        part.save(shard_path(path, k, n_shards), part.coverage(ALGORITHM, VERSION), {"shard": k, "shards": n_shards})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for k in range(n_shards) for n in (f"frames.shard-{k}-of-3.faiss", f"frames.shard-{k}-of-3.faiss.json")
    )
    loaded = load_index(path)
    assert loaded is not None
    sharded, coverage = loaded
    whole = FrameIndex.build(ids, refs, kind=kind)
    assert coverage == whole.coverage(ALGORITHM, VERSION) == sharded.coverage(ALGORITHM, VERSION)
    assert sharded.kind == SHARDED and len(sharded) == len(ids)
    got = as_tuples(sharded.search(queries, 10))
    expected = oracle(ids, refs, queries, 10)
    if kind == FLAT:
        assert got == expected == as_tuples(whole.search(queries, 10))
    else:
        assert len(got) == len(set(got)) and set(got) <= set(expected)
        assert len(got) / len(expected) >= 0.98
        assert as_tuples(sharded.search(queries, 3)) == oracle(ids, refs, queries, 3)


def test_sharded_load_returns_none_when_a_shard_is_missing_or_misnamed(tmp_path):
    ids, refs, _, video_ids = _shard_data(2)
    path = tmp_path / "frames.faiss"
    for k in range(2):
        mine = shard_of(video_ids, 2) == k
        part = FrameIndex.build(ids[mine], refs[mine])
        part.save(shard_path(path, k, 2), part.coverage(ALGORITHM, VERSION), {"shard": k, "shards": 2})
    assert load_index(path) is not None
    one = shard_path(path, 1, 2)
    saved = one.read_bytes(), Path(str(one) + ".json").read_text()
    # shard 0's files copied under shard 1's name are not shard 1
    one.write_bytes(shard_path(path, 0, 2).read_bytes())
    Path(str(one) + ".json").write_text(Path(str(shard_path(path, 0, 2)) + ".json").read_text())
    assert load_index(path) is None
    one.write_bytes(saved[0])
    Path(str(one) + ".json").write_text(saved[1])
    assert load_index(path) is not None
    one.unlink()
    assert load_index(path) is None


# --- `vidtrace index build` against a real store ----------------------------------------------


def _store_copy(ingested_store: Path, tmp_path: Path, name: str = "store") -> Path:
    store = tmp_path / name
    shutil.copytree(ingested_store, store)
    return store


def _contents(index) -> dict[int, int]:
    """frame id -> code (as an integer) of every frame an index (single or sharded) holds."""
    parts = index.shards if getattr(index, "kind", None) == SHARDED else [index]
    out = {}
    for part in parts:
        ids, codes = part.contents_u64()
        out.update(zip(ids.tolist(), codes.tolist()))
    return out


def test_index_build_shards_then_lookup_and_doctor_agree(ingested_store, tmp_path):
    store = _store_copy(ingested_store, tmp_path)
    clip = fixture_clip("a_trimmed.mp4")
    before = run(store, "lookup", clip, "--json")
    assert before.exit_code == 0, before.stderr
    single, _ = load_index(store / db.INDEX_FILENAME)

    built = run(store, "index", "build", "--shards", "3", "--json")
    assert built.exit_code == 0, built.stderr
    document = json.loads(built.stdout)
    assert document["shards"] == 3 and [b["shard"] for b in document["built"]] == [0, 1, 2]
    assert sum(b["frames"] for b in document["built"]) == len(single)
    assert not (store / db.INDEX_FILENAME).exists()  # one layout per store folder
    assert {p.name for p in store.glob("frames.shard-*-of-3.faiss")} == {
        f"frames.shard-{k}-of-3.faiss" for k in range(3)
    }

    sharded, _ = load_index(store / db.INDEX_FILENAME)
    assert sharded.kind == SHARDED and _contents(sharded) == _contents(single)
    after = run(store, "lookup", clip, "--json")
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    doctor = run(store, "doctor")
    assert doctor.exit_code == 0, doctor.stdout

    # A missing shard is rebuilt from the database on the next search (in memory: a lookup
    # writes no file), and saved by the next command that writes, the others kept.
    kept = shard_path(store / db.INDEX_FILENAME, 0, 3).stat().st_mtime_ns
    shard_path(store / db.INDEX_FILENAME, 2, 3).unlink()
    again = run(store, "lookup", clip, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == json.loads(before.stdout)
    assert not shard_path(store / db.INDEX_FILENAME, 2, 3).exists()
    assert run(store, "doctor", "--repair").exit_code == 0
    assert shard_path(store / db.INDEX_FILENAME, 2, 3).exists()
    assert shard_path(store / db.INDEX_FILENAME, 0, 3).stat().st_mtime_ns == kept

    # Back to one file.
    whole = run(store, "index", "build")
    assert whole.exit_code == 0 and "index:" in whole.stdout
    assert not list(store.glob("frames.shard-*")) and (store / db.INDEX_FILENAME).exists()


def test_shards_recorded_by_an_older_hash_version_are_kept_when_they_hold_the_databases_frames(
    ingested_store, tmp_path, monkeypatch
):
    store = _store_copy(ingested_store, tmp_path)
    clip = fixture_clip("a_trimmed.mp4")
    before = run(store, "lookup", clip, "--json")
    assert run(store, "index", "build", "--shards", "3").exit_code == 0
    records = [record_path(shard_path(store / db.INDEX_FILENAME, k, 3)) for k in range(3)]
    for record in records[0], records[2]:  # two shards written by the version before this one
        meta = json.loads(record.read_text())
        record.write_text(json.dumps({**meta, "version": HASH_VERSION - 1}))

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a shard was rebuilt from the database")

    monkeypatch.setattr(sync, "_build", no_rebuild)
    after = run(store, "lookup", clip, "--json")
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(records[0].read_text())["version"] == HASH_VERSION - 1  # a lookup writes nothing
    assert run(store, "doctor").exit_code == 0
    writing = db.Store.open(db.StoreLocation.resolve(store), create=False)
    try:
        sync.synced_index(writing)
    finally:
        writing.close()
    assert [json.loads(r.read_text())["version"] for r in records] == [HASH_VERSION] * 3


def test_shards_built_on_separate_machines_from_one_database_match_what_ingest_produced(ingested_store, tmp_path):
    shared = tmp_path / "shared.sqlite"  # the database every machine reaches
    shutil.copy(ingested_store / "vidtrace.db", shared)
    url = f"sqlite:///{shared}"
    for k in range(2):
        result = run(tmp_path / f"machine{k}", "index", "build", "--shards", "2", "--shard", str(k), db_url=url)
        assert result.exit_code == 0, result.stderr
        assert f"shard {k} of 2:" in result.stdout
        assert not list((tmp_path / f"machine{k}").glob(f"frames.shard-{1 - k}-*"))
    searcher = tmp_path / "searcher"
    searcher.mkdir()
    for k in range(2):
        for f in (tmp_path / f"machine{k}").glob("frames.shard-*"):
            shutil.copy(f, searcher / f.name)
    sharded, coverage = load_index(searcher / db.INDEX_FILENAME)
    single, single_coverage = load_index(ingested_store / db.INDEX_FILENAME)
    assert coverage == single_coverage
    assert _contents(sharded) == _contents(single)
    clip = fixture_clip("a_trimmed.mp4")
    assert json.loads(run(searcher, "lookup", clip, "--json", db_url=url).stdout) == json.loads(
        run(ingested_store, "lookup", clip, "--json").stdout
    )
    assert {p.name for p in searcher.iterdir()} == {
        n for k in range(2) for n in (f"frames.shard-{k}-of-2.faiss", f"frames.shard-{k}-of-2.faiss.json")
    }  # nothing was rebuilt


def test_ingest_into_a_sharded_store_keeps_every_shard_in_step(tmp_path, video_tree):
    store = tmp_path / "store"
    names = sorted(video_tree.iterdir())
    first, rest = names[0], names[1:]
    assert run(store, "ingest", first).exit_code == 0
    assert run(store, "index", "build", "--shards", "2").exit_code == 0
    result = run(store, "ingest", *rest)
    assert result.exit_code == 0, result.stderr
    assert not (store / db.INDEX_FILENAME).exists()
    assert run(store, "doctor").exit_code == 0
    total = db_rows(store, "select count(*) from frames")[0][0]
    for k in range(2):
        shard, coverage = FrameIndex.load(shard_path(store / db.INDEX_FILENAME, k, 2))
        in_sql = db_rows(store, f"select count(*) from frames where video_id % 2 = {k}")[0][0]
        assert coverage.count == len(shard) == in_sql
    assert sum(len(FrameIndex.load(shard_path(store / db.INDEX_FILENAME, k, 2))[0]) for k in range(2)) == total


@pytest.mark.parametrize(
    "args, message",
    [(["--shard", "1"], "--shards"), (["--shards", "2", "--shard", "2"], "between 0 and 1"), (["--shards", "0"], "0")],
)
def test_index_build_usage_errors_exit_2(ingested_store, args, message):
    result = run(ingested_store, "index", "build", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_store_with_shards_of_two_counts_is_a_clear_error(ingested_store, tmp_path):
    store = _store_copy(ingested_store, tmp_path)
    assert run(store, "index", "build", "--shards", "2").exit_code == 0
    for suffix in ("", ".json"):
        shutil.copy(
            f"{shard_path(store / db.INDEX_FILENAME, 0, 2)}{suffix}",
            f"{shard_path(store / db.INDEX_FILENAME, 0, 3)}{suffix}",
        )
    result = run(store, "lookup", fixture_clip("a_trimmed.mp4"))
    assert result.exit_code == 2
    assert "shards for 2 and 3 shards" in result.stderr and "index build --shards" in result.stderr


def test_index_command_has_help():
    result = run(Path("unused"), "index", "build", "--help")
    assert result.exit_code == 0 and "Example" in result.stdout


def test_shards_built_from_postgresql_match_the_single_index(pg_url, tmp_path):
    store = tmp_path / "ingest"
    result = run(store, "ingest", "--manifest", MANIFEST, db_url=pg_url)
    assert result.exit_code == 0, result.stderr
    single, single_coverage = load_index(store / db.INDEX_FILENAME)
    for k in range(3):
        built = run(
            tmp_path / f"machine{k}", "index", "build", "--shards", "3", "--shard", str(k), "--json", db_url=pg_url
        )
        assert built.exit_code == 0, built.stderr
        assert json.loads(built.stdout)["built"][0]["shard"] == k
        for f in (tmp_path / f"machine{k}").glob("frames.shard-*"):
            shutil.copy(f, store / f.name)
    sharded, coverage = load_index(store / db.INDEX_FILENAME)
    assert sharded.kind == SHARDED and coverage == single_coverage
    assert _contents(sharded) == _contents(single)
    assert run(store, "doctor", db_url=pg_url).exit_code == 0


def test_what_sql_holds_is_read_in_batches_as_the_frames_themselves_give_it(tmp_path, monkeypatch):
    """The coverage read from SQL (count, largest id, id sum, digest; all frames and per shard),
    read through the driver's plain rows in several batches, is the one of the frames as stored."""
    from sqlalchemy import insert, select

    from vidtrace.index import sync
    from vidtrace.index.sharded import shard_of
    from vidtrace.store.models import Frame
    from vidtrace.store.sql import utcnow
    from vidtrace.store.videos import insert_video

    rng = np.random.default_rng(3)
    store = db.Store.open(db.StoreLocation.resolve(tmp_path / "store"), create=True)
    ids, codes, videos = [], [], []
    with store.session() as session:
        for v in range(5):
            video_id, _ = insert_video(
                session, sha256=f"{v:064x}", size_bytes=0, duration_s=1.0, fps=25.0, width=1, height=1, status="ok",
                algorithm="phash64", algorithm_version=1, sampled_frames=37, created_at=utcnow(),
            )  # fmt: skip
            rows = rng.integers(0, 256, (37, 8), dtype=np.uint8)
            session.execute(
                insert(Frame),
                [{"video_id": video_id, "ts_s": k / 8, "hash": rows[k].tobytes(), "quality": 0.0, "region": 0} for k in range(37)],
            )  # fmt: skip
            codes.append(rows)
            videos += [video_id] * 37
        session.commit()
        ids = [fid for (fid,) in session.execute(select(Frame.id).order_by(Frame.id))]
        monkeypatch.setattr(sync, "READ_BATCH_FRAMES", 50)  # 185 frames: four batches
        whole = sync.sql_coverage(session)
        shards = sync.sql_coverages(session, 3)
    store.close()
    ids_a, codes_a, videos_a = np.array(ids), np.concatenate(codes), np.array(videos)
    assert (whole.count, whole.max_id, whole.id_sum) == (185, int(ids_a.max()), int(ids_a.sum()))
    assert whole.digest == frame_digest(ids_a, codes_a)
    which = shard_of(videos_a, 3)
    for k, shard in enumerate(shards):
        mine = which == k
        assert (shard.count, shard.id_sum) == (int(mine.sum()), int(ids_a[mine].sum()))
        assert shard.digest == frame_digest(ids_a[mine], codes_a[mine])
