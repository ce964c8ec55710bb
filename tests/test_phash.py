"""The batched pHash against its definition, `imagehash.phash`: every bit, on real decoded
frames of the fixture clips and of the real clips (when present), and on random pictures."""

from __future__ import annotations

from pathlib import Path

import cv2
import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from vidtrace import decode as dec
from vidtrace.fingerprint import hash_frame, hash_pictures, zoom_region
from vidtrace.hashes import bits_to_bytes
from vidtrace.phash import phash_rows
from vidtrace.settings import HASH_SIZE, Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CLIPS = sorted((ROOT / "fixtures" / "videos").rglob("*.mp4"))
REAL_CLIPS = [
    p
    for p in (ROOT.parent / "shared" / "videos" / "talking-heads" / f"{n}.mp4" for n in ("d3", "d10", "d19"))
    if p.exists()
]
SIDE = 4 * HASH_SIZE


def _oracle(picture: np.ndarray) -> bytes:
    """The hash as imagehash defines it, after the same area-averaging reduction to 32x32."""
    if picture.shape != (SIDE, SIDE):
        picture = cv2.resize(np.ascontiguousarray(picture), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return bits_to_bytes(imagehash.phash(Image.fromarray(picture), hash_size=HASH_SIZE).hash)


def _pictures(path: Path, every: int = 3) -> list[np.ndarray]:
    return [f.pixels for k, f in enumerate(dec.decode(path, Settings())) if k % every == 0]


@pytest.mark.parametrize("path", FIXTURE_CLIPS + REAL_CLIPS, ids=lambda p: p.name)
def test_batched_phash_equals_imagehash_on_real_frames(path):
    pictures = _pictures(path)
    assert len(pictures) > 20
    # Whole frames, a mirrored and a zoomed region, as fingerprinting hashes them.
    pictures += [np.ascontiguousarray(p[:, ::-1]) for p in pictures[:10]] + [zoom_region(p, 0.7) for p in pictures[:10]]
    expected = [_oracle(p) for p in pictures]
    assert [hash_frame(p) for p in pictures] == expected
    assert hash_pictures(pictures) == expected  # the regions of a picture are hashed together
    stack = np.stack(
        [cv2.resize(np.ascontiguousarray(p), (SIDE, SIDE), interpolation=cv2.INTER_AREA) for p in pictures]
    )
    assert [row.tobytes() for row in phash_rows(stack, HASH_SIZE)] == expected


@settings(max_examples=200, deadline=None)
@given(
    pictures=st.integers(1, 40).flatmap(lambda n: arrays(np.uint8, (n, SIDE, SIDE), elements=st.integers(0, 255))),
    flat=st.booleans(),
)
def test_batched_phash_equals_imagehash_on_random_pictures(pictures, flat):
    if flat:  # few levels: many DCT coefficients tie with the median
        pictures = (pictures // 128 * 255).astype(np.uint8)
    expected = [_oracle(p) for p in pictures]
    assert [row.tobytes() for row in phash_rows(pictures, HASH_SIZE)] == expected
    assert [hash_frame(p) for p in pictures] == expected


@settings(max_examples=100, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(8, 120), st.integers(8, 120)), elements=st.integers(0, 255)))
def test_hash_frame_equals_imagehash_on_pictures_of_any_size(picture):
    assert hash_frame(picture) == _oracle(picture)
    assert hash_pictures([picture, picture[:, ::-1], picture[: len(picture) // 2 + 1]]) == [
        _oracle(picture), _oracle(picture[:, ::-1]), _oracle(picture[: len(picture) // 2 + 1])
    ]  # fmt: skip


def test_batched_phash_refuses_a_stack_of_the_wrong_shape():
    with pytest.raises(ValueError, match="uint8 stack"):
        phash_rows(np.zeros((2, 16, 16), dtype=np.uint8), HASH_SIZE)
