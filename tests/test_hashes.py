"""Hash representations: bits <-> bytes <-> hex round trips, and the Hamming oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidtrace import hashes

NBYTES = 8

codes = st.binary(min_size=NBYTES, max_size=NBYTES)
raw_bytes = st.binary(min_size=0, max_size=32)
bit_lists = st.integers(0, 32).flatmap(lambda n: st.lists(st.booleans(), min_size=8 * n, max_size=8 * n))
#: No deadline: a test must never fail because a machine is slow.
no_deadline = settings(deadline=None)


@no_deadline
@given(raw_bytes)
def test_bytes_bits_bytes_round_trip(raw):
    bits = hashes.bytes_to_bits(raw)
    assert bits.dtype == bool
    assert bits.shape == (8 * len(raw),)
    assert hashes.bits_to_bytes(bits) == raw


@no_deadline
@given(bit_lists)
def test_bits_bytes_bits_round_trip(bits):
    raw = hashes.bits_to_bytes(np.array(bits, dtype=bool))
    assert len(raw) == len(bits) // 8
    assert hashes.bytes_to_bits(raw).tolist() == bits


@no_deadline
@given(st.lists(st.booleans(), min_size=64, max_size=64))
def test_bits_to_bytes_accepts_a_matrix_row_major(bits):
    matrix = np.array(bits, dtype=bool).reshape(8, 8)  # imagehash's layout
    assert hashes.bits_to_bytes(matrix) == hashes.bits_to_bytes(np.array(bits, dtype=bool))


def test_bits_to_bytes_is_most_significant_bit_first():
    bits = np.zeros(16, dtype=bool)
    bits[0] = True  # first bit of the first byte
    bits[15] = True  # last bit of the second byte
    assert hashes.bits_to_bytes(bits) == b"\x80\x01"


@no_deadline
@given(raw_bytes)
def test_hex_round_trip(raw):
    text = hashes.to_hex(raw)
    assert text == text.lower()
    assert len(text) == 2 * len(raw)
    assert hashes.from_hex(text) == raw


@no_deadline
@given(raw_bytes)
def test_bits_to_hex_to_bits(raw):
    bits = hashes.bytes_to_bits(raw)
    again = hashes.bytes_to_bits(hashes.from_hex(hashes.to_hex(hashes.bits_to_bytes(bits))))
    assert np.array_equal(again, bits)


@no_deadline
@given(codes, codes)
def test_hamming_is_symmetric(a, b):
    assert hashes.hamming(a, b) == hashes.hamming(b, a)


@no_deadline
@given(codes)
def test_hamming_is_zero_on_self(a):
    assert hashes.hamming(a, a) == 0


@no_deadline
@given(codes, codes)
def test_hamming_equals_bit_count_of_xor(a, b):
    xor = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    assert hashes.hamming(a, b) == bin(xor).count("1")
    assert 0 <= hashes.hamming(a, b) <= 8 * NBYTES


@no_deadline
@given(codes, st.integers(min_value=0, max_value=8 * NBYTES - 1))
def test_flipping_one_bit_gives_distance_one(a, bit):
    flipped = (int.from_bytes(a, "big") ^ (1 << bit)).to_bytes(NBYTES, "big")
    assert hashes.hamming(a, flipped) == 1


def test_hamming_rejects_different_lengths():
    with pytest.raises(ValueError):
        hashes.hamming(b"\x00" * 8, b"\x00" * 4)


@no_deadline
@given(st.lists(codes, min_size=0, max_size=20))
def test_to_matrix_shape_dtype_and_rows(items):
    matrix = hashes.to_matrix(items, NBYTES)
    assert matrix.shape == (len(items), NBYTES)
    assert matrix.dtype == np.uint8
    assert matrix.flags["C_CONTIGUOUS"]
    assert matrix.flags["WRITEABLE"]
    assert [row.tobytes() for row in matrix] == items


@pytest.mark.parametrize("bad", [b"", b"\x00" * 7, b"\x00" * 9])
def test_to_matrix_rejects_wrong_length(bad):
    with pytest.raises(ValueError):
        hashes.to_matrix([b"\x01" * NBYTES, bad], NBYTES)


@no_deadline
@given(st.lists(codes, min_size=0, max_size=12), st.lists(codes, min_size=0, max_size=12))
def test_hamming_matrix_equals_pairwise_hamming(queries, refs):
    got = hashes.hamming_matrix(hashes.to_matrix(queries, NBYTES), hashes.to_matrix(refs, NBYTES))
    assert got.shape == (len(queries), len(refs))
    expected = [[hashes.hamming(q, r) for r in refs] for q in queries]
    assert got.tolist() == expected


def test_self_echo_spans_are_long_for_a_held_picture_and_short_for_moving_content():
    rng = np.random.default_rng(3)
    moving = rng.integers(0, 256, (40, 8), dtype=np.uint8)  # every picture different
    held = np.repeat(moving[:1], 40, axis=0)  # one picture held for the whole stretch
    ts = np.arange(40) * 0.125
    assert hashes.self_echo_spans(ts, moving, 10, 2.75).max() == 0.0
    spans = hashes.self_echo_spans(ts, held, 10, 2.75)
    assert spans.min() >= 2.75 - 1e-9  # each frame looks like its neighbours 2.75 s either way
    assert spans.max() <= 2 * 2.75 + 1e-9  # never beyond the window on either side


@no_deadline
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(*[st.binary(min_size=n, max_size=n)] * 2)))
def test_row_distances_equal_bit_counts_of_xor_for_any_length(pair):
    a, b = pair
    xor = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    rows_a, rows_b = (np.frombuffer(x, dtype=np.uint8).reshape(1, -1) for x in (a, b))
    assert hashes.hamming_rows(rows_a, rows_b).tolist() == [bin(xor).count("1")]
    assert hashes.hamming_matrix(rows_a, rows_b).tolist() == [[bin(xor).count("1")]]


@no_deadline
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
def test_u64_rows_round_trip_most_significant_byte_first(values):
    as_u64 = np.array(values, dtype=np.uint64)
    rows = hashes.u64_to_rows(as_u64)
    assert [bytes(r) for r in rows] == [v.to_bytes(8, "big") for v in values]
    assert (hashes.rows_to_u64(rows) == as_u64).all()
    assert hashes.u64_bits(as_u64)[:, 0].tolist() == [v >> 63 for v in values]
    assert hashes.popcount(as_u64).tolist() == [bin(v).count("1") for v in values]
