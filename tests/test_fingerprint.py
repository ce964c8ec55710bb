"""Fingerprinting on synthetic frames: border cropping, flat-frame detection, perceptual hashes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidtrace import settings as defaults
from vidtrace.decode import DecodedFrame
from vidtrace.fingerprint import (
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_FRAME,
    REGION_MIRROR,
    REGION_ZOOM,
    content_box,
    frame_quality,
    hash_frame,
    hash_frames,
)
from vidtrace.hashes import hamming

SIDE = defaults.FRAME_SIDE_PX  # 128
SEEDS = range(6)


def texture(seed: int, height: int = SIDE, width: int = SIDE) -> np.ndarray:
    """A smooth, high-contrast grey texture (random 12x12 grid, upscaled): every row and column varies."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (12, 12)).astype(np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def sharp_texture(seed: int) -> np.ndarray:
    """A detailed texture (random 24x24 grid, nearest-neighbour upscaled): sharp cell edges."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (24, 24)).astype(np.uint8)
    return cv2.resize(small, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST)


def with_bar_noise(frame: np.ndarray, seed: int, sigma: float = 1.5) -> np.ndarray:
    """Compression-like noise, as real bars are never perfectly flat."""
    rng = np.random.default_rng(seed + 1000)
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def letterbox(content: np.ndarray, top: int, bottom: int, value: int = 0) -> np.ndarray:
    height = SIDE - top - bottom
    frame = np.full((SIDE, SIDE), value, dtype=np.uint8)
    frame[top : SIDE - bottom] = cv2.resize(content, (SIDE, height), interpolation=cv2.INTER_AREA)
    return frame


def pillarbox(content: np.ndarray, left: int, right: int, value: int = 128) -> np.ndarray:
    width = SIDE - left - right
    frame = np.full((SIDE, SIDE), value, dtype=np.uint8)
    frame[:, left : SIDE - right] = cv2.resize(content, (width, SIDE), interpolation=cv2.INTER_AREA)
    return frame


def assert_box_close(got: tuple[int, int, int, int], expected: tuple[int, int, int, int], tol: int = 2) -> None:
    assert all(abs(g - e) <= tol for g, e in zip(got, expected)), (got, expected)


def crop(frame: np.ndarray) -> np.ndarray:
    top, bottom, left, right = content_box(frame)
    return frame[top:bottom, left:right]


# --- content_box ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_content_box_without_bars_is_the_whole_frame(seed):
    assert content_box(texture(seed)) == (0, SIDE, 0, SIDE)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("top,bottom", [(28, 28), (16, 16), (10, 20), (1, 1)])
def test_content_box_removes_black_letterbox_bars(seed, top, bottom):
    frame = with_bar_noise(letterbox(texture(seed), top, bottom, value=0), seed)
    assert_box_close(content_box(frame), (top, SIDE - bottom, 0, SIDE))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("left,right", [(16, 16), (24, 8)])
def test_content_box_removes_grey_pillarbox_bars(seed, left, right):
    frame = with_bar_noise(pillarbox(texture(seed), left, right, value=128), seed)
    assert_box_close(content_box(frame), (0, SIDE, left, SIDE - right))


@pytest.mark.parametrize("seed", SEEDS)
def test_content_box_removes_bars_on_all_sides(seed):
    frame = np.full((SIDE, SIDE), 16, dtype=np.uint8)  # video-range black
    frame[20:108, 12:116] = texture(seed, 88, 104)
    assert_box_close(content_box(with_bar_noise(frame, seed)), (20, 108, 12, 116))


def test_content_box_never_crops_more_than_the_max_share():
    frame = np.zeros((SIDE, SIDE), dtype=np.uint8)  # all black: everything looks like border
    top, bottom, left, right = content_box(frame)
    limit = int(SIDE * defaults.MAX_BORDER_SHARE)
    assert (top, SIDE - bottom, left, SIDE - right) == (limit, limit, limit, limit)
    assert bottom > top and right > left


# --- frame_quality --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 16, 128, 255])
def test_frame_quality_is_near_zero_for_a_flat_frame(value):
    flat = np.full((SIDE, SIDE), value, dtype=np.uint8)
    assert frame_quality(flat) == pytest.approx(0.0, abs=1e-6)
    assert frame_quality(with_bar_noise(flat, 0, sigma=1.0)) < defaults.MIN_FRAME_STD


@pytest.mark.parametrize("seed", SEEDS)
def test_frame_quality_is_high_for_texture(seed):
    assert frame_quality(texture(seed)) > 4 * defaults.MIN_FRAME_STD


def test_hash_frames_skips_flat_frames_and_keeps_textured_ones():
    frames = [
        DecodedFrame(np.zeros((SIDE, SIDE), dtype=np.uint8), 0, 0.0),
        DecodedFrame(texture(1), 1, 0.5),
        DecodedFrame(np.full((SIDE, SIDE), 200, dtype=np.uint8), 2, 1.0),
        DecodedFrame(letterbox(texture(2), 28, 28), 3, 1.5004),
    ]
    hashes, seen = hash_frames(frames)
    assert seen == 4
    hashes = [h for h in hashes if h.region in (REGION_FRAME, REGION_CONTENT)]
    assert [h.ts_s for h in hashes] == [0.5, 1.5]
    assert hashes[0].hash == hash_frame(texture(1))
    assert hashes[1].hash == hash_frame(crop(letterbox(texture(2), 28, 28)))
    assert all(h.quality >= defaults.MIN_FRAME_STD for h in hashes)


# --- hash_frame -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_hash_frame_is_eight_bytes_and_deterministic(seed):
    image = texture(seed)
    first = hash_frame(image)
    assert isinstance(first, bytes) and len(first) == 8
    assert hash_frame(image.copy()) == first


def _blur(image: np.ndarray, seed: int) -> np.ndarray:
    return cv2.GaussianBlur(image, (5, 5), 1.0)


def _brighten(image: np.ndarray, seed: int) -> np.ndarray:
    return np.clip(image.astype(np.int16) + 20, 0, 255).astype(np.uint8)


def _noise(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 7)
    return np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)


def _all_three(image: np.ndarray, seed: int) -> np.ndarray:
    return _noise(_brighten(_blur(image, seed), seed), seed)


def _rescale(image: np.ndarray, seed: int) -> np.ndarray:
    small = cv2.resize(image, (90, 90), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", [_blur, _brighten, _noise, _all_three, _rescale])
def test_hash_frame_is_close_for_a_mildly_changed_image(seed, change):
    image = texture(seed)
    changed = change(image, seed)
    assert not np.array_equal(changed, image)
    assert hamming(hash_frame(image), hash_frame(changed)) < 10


@pytest.mark.parametrize("seed", SEEDS)
def test_hash_frame_is_far_for_an_unrelated_texture(seed):
    image = hash_frame(texture(seed))
    assert hamming(image, hash_frame(texture(seed + 100))) > 20
    noise = np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    assert hamming(image, hash_frame(noise)) > 20


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("top,bottom,value", [(28, 28, 0), (16, 16, 0), (20, 20, 16)])
def test_hash_of_letterboxed_content_equals_hash_of_unpadded_content(seed, top, bottom, value):
    # The same video, once full frame and once letterboxed (squashed into fewer rows, with bars).
    content = texture(seed)
    boxed = with_bar_noise(letterbox(content, top, bottom, value), seed)
    assert hamming(hash_frame(crop(boxed)), hash_frame(content)) <= 6
    # Without the crop, the bars would change the hash a lot more: the crop is what matters.
    assert hamming(hash_frame(boxed), hash_frame(content)) > 6


@pytest.mark.parametrize("seed", SEEDS)
def test_hash_of_pillarboxed_content_equals_hash_of_unpadded_content(seed):
    content = texture(seed)
    boxed = with_bar_noise(pillarbox(content, 16, 16, value=128), seed)
    assert hamming(hash_frame(crop(boxed)), hash_frame(content)) <= 6


# --- blurred and coloured padding, mirror, regions -------------------------------------------


def blurred_vertical(content: np.ndarray, band: int) -> np.ndarray:
    """The clip squashed into a middle band, over a blurred, enlarged copy of itself."""
    background = cv2.GaussianBlur(cv2.resize(content[32:96, 32:96], (SIDE, SIDE)), (0, 0), 6)
    frame = background.copy()
    top = (SIDE - band) // 2
    frame[top : top + band] = cv2.resize(content, (SIDE, band), interpolation=cv2.INTER_AREA)
    return frame


@pytest.mark.parametrize("seed", SEEDS)
def test_content_box_removes_a_blurred_background(seed):
    content = sharp_texture(seed)
    top, bottom, left, right = content_box(blurred_vertical(content, 48))
    assert_box_close((top, bottom, left, right), (40, 88, 0, SIDE), tol=3)


@pytest.mark.parametrize("seed", SEEDS)
def test_hash_of_blurred_background_copy_is_close_to_the_clip(seed):
    content = sharp_texture(seed)
    framed = blurred_vertical(content, 48)
    assert hamming(hash_frame(crop(framed)), hash_frame(content)) <= 8
    assert hamming(hash_frame(framed), hash_frame(content)) > 10


@pytest.mark.parametrize("seed", SEEDS)
def test_content_box_removes_coloured_padding(seed):
    frame = with_bar_noise(pillarbox(texture(seed), 20, 20, value=90), seed)
    assert_box_close(content_box(frame), (0, SIDE, 20, SIDE - 20))


@pytest.mark.parametrize("seed", SEEDS)
def test_content_box_keeps_a_frame_with_a_smooth_sky(seed):
    # Only the top is smooth: not a centred blurred background, nothing is cropped.
    frame = texture(seed)
    frame[:40] = cv2.GaussianBlur(frame[:40], (0, 0), 8)
    assert content_box(frame) == (0, SIDE, 0, SIDE)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_mirrored_content_is_hashed_too_and_matches_a_flipped_copy(seed):
    image = texture(seed)
    flipped = np.ascontiguousarray(image[:, ::-1])
    frames = [DecodedFrame(image, k, k * 0.25) for k in range(4)]
    flipped_frames = [DecodedFrame(flipped, k, k * 0.25) for k in range(4)]
    hashes, _ = hash_frames(frames)
    flipped_hashes, _ = hash_frames(flipped_frames)
    stored_mirror = next(h.hash for h in hashes if h.region == REGION_MIRROR)
    copy_plain = next(h.hash for h in flipped_hashes if h.region == REGION_FRAME)
    assert hamming(stored_mirror, copy_plain) <= 2
    assert hamming(hash_frame(image), hash_frame(flipped)) > 10


def test_wide_frames_also_hash_their_centre_and_a_zoomed_region():
    frames = [DecodedFrame(texture(k), k, k * 0.25) for k in range(4)]
    hashes, _ = hash_frames(frames, aspect=16 / 9)
    regions = {h.region for h in hashes}
    assert regions == {REGION_FRAME, REGION_ZOOM, REGION_CENTRE, REGION_MIRROR}
    square, _ = hash_frames(frames, aspect=1.0)
    assert REGION_CENTRE in {h.region for h in hash_frames(frames, aspect=9 / 16)[0]}  # its 16:9 band
    unknown, _ = hash_frames(frames)
    assert {h.region for h in unknown} == {REGION_FRAME, REGION_ZOOM, REGION_MIRROR}
    assert REGION_CENTRE in {h.region for h in square}


def test_pictures_are_means_over_short_windows():
    # 25 frames a second: one picture every HASH_STEP_S, each the mean of its window's frames.
    frames = [DecodedFrame(texture(k % 7), k, k / 25) for k in range(50)]
    hashes, seen = hash_frames(frames)
    primary = [h for h in hashes if h.region == REGION_FRAME]
    assert seen == 50
    assert [h.ts_s for h in primary] == [k * defaults.HASH_STEP_S for k in range(len(primary))]
    assert len(primary) == 9  # 0 to 2.0 s: the last window still holds the last frames
