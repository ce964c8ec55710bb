"""Fingerprinting on synthetic frames and fixture clips: border cropping, flat-frame detection,
perceptual hashes, insets."""

from __future__ import annotations

import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from conftest import FIXTURE_VIDEOS
from vidtrace import settings as defaults
from vidtrace.decode import DecodedFrame
from vidtrace.fingerprint import (
    MOTION_REGIONS,
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_DEEP_ZOOM,
    REGION_FRAME,
    REGION_INSET,
    REGION_MIRROR,
    REGION_MOTION,
    REGION_MOTION_CENTRE,
    REGION_ZOOM,
    content_box,
    find_inset,
    fingerprint_file,
    frame_quality,
    hash_frame,
    hash_frames,
)
from vidtrace.hashes import hamming
from vidtrace.settings import Settings

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


def green_screen(seed: int) -> np.ndarray:
    """A head and shoulders before a plain backdrop (its light falls off a little from the centre,
    with the camera's noise): the backdrop touches every side but the bottom."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    light = 126 - 12 * np.hypot(yy - SIDE / 2, xx - SIDE / 2) / SIDE
    frame = np.clip(light + np.random.default_rng(seed).normal(0, 1.0, light.shape), 0, 255).astype(np.uint8)
    head = ((yy - 52) / 34) ** 2 + ((xx - 64) / 26) ** 2 <= 1
    shoulders = (yy >= 96) & (np.abs(xx - 64) <= 30 + (yy - 96))  # sloping down to the bottom
    person = texture(seed) // 2 + 20
    frame[head | shoulders] = person[head | shoulders]
    return frame


@pytest.mark.parametrize("seed", SEEDS)
def test_a_flat_backdrop_around_a_person_is_not_padding(seed):
    # The flat rows above the head and the flat columns beside it end where the outline first
    # touches the line; past it the backdrop goes on around the person: nothing is cut, so a copy
    # with a caption over the backdrop is hashed from the same picture.
    assert content_box(green_screen(seed)) == (0, SIDE, 0, SIDE)


@pytest.mark.parametrize("seed", SEEDS)
def test_bars_around_a_backdrop_are_still_padding(seed):
    # The same picture letterboxed in black: the bars end at a straight edge and are cut.
    frame = np.zeros((SIDE, SIDE), dtype=np.uint8)
    frame[16 : SIDE - 16, :] = cv2.resize(green_screen(seed), (SIDE, SIDE - 32), interpolation=cv2.INTER_AREA)
    assert_box_close(content_box(frame), (16, SIDE - 16, 0, SIDE))


@pytest.mark.parametrize("seed", SEEDS)
def test_padding_of_the_backdrops_grey_is_still_padding(seed):
    # Padding filled with the backdrop's own grey (a green wall and a grey fill look alike in
    # grey levels): the line past the padding keeps its colour, but the fill is one exact colour.
    # It is cut, with the wall beside it up to the person (the two are one flat border).
    frame = np.full((SIDE, SIDE), 125, dtype=np.uint8)
    frame[12 : SIDE - 12, 20 : SIDE - 20] = cv2.resize(
        green_screen(seed), (SIDE - 40, SIDE - 24), interpolation=cv2.INTER_AREA
    )
    top, bottom, left, right = content_box(frame)
    assert top >= 12 and left >= 20 and right <= SIDE - 20
    assert bottom >= SIDE - 14  # the person's shoulders reach the padding's bottom edge


def cropped_green_screen(seed: int, wall_noise: float) -> np.ndarray:
    """A close crop of a person before an even wall: the head (hair with a flat top) comes within
    6 lines of the top and is a third of the frame wide two lines below; the wall touches the top
    and both sides, one-sided each way (the bottom is the shoulders)."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    rng = np.random.default_rng(seed)
    frame = np.clip(122 + rng.normal(0, wall_noise, (SIDE, SIDE)), 0, 255).astype(np.uint8)
    head = ((yy - 50) / 44) ** 4 + ((xx - 64) / 34) ** 4 <= 1
    shoulders = yy >= 84
    person = sharp_texture(seed) // 3 + 10  # dark clothes and hair: never the wall's grey
    frame[head | shoulders] = person[head | shoulders]
    return frame


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("wall_noise", [0.3, 1.0])
def test_a_cropped_even_wall_around_a_close_head_is_not_padding(seed, wall_noise):
    # A crop of a green screen can leave a wall as even as added padding (spread under
    # BACKDROP_MIN_STD) on one side: it is no letterbox, whose bars come in pairs. The head
    # interrupts the line past the wall over a third of its length, where content would end at a
    # straight edge. Nothing is cut, so the crop's picture is its source's, scaled.
    frame = cropped_green_screen(seed, wall_noise)
    assert content_box(frame) == (0, SIDE, 0, SIDE)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_one_sided_flat_bar_is_still_padding(seed):
    # A bar added on one side only, over content that ends at a straight edge.
    frame = letterbox(texture(seed), 14, 0, value=0)
    assert_box_close(content_box(with_bar_noise(frame, seed)), (14, SIDE, 0, SIDE))


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
    assert regions - set(MOTION_REGIONS) == {REGION_FRAME, REGION_ZOOM, REGION_DEEP_ZOOM, REGION_CENTRE, REGION_MIRROR}
    assert REGION_MOTION_CENTRE in regions  # the pictures change: so does the centre of the change
    square, _ = hash_frames(frames, aspect=1.0)
    assert REGION_CENTRE in {h.region for h in hash_frames(frames, aspect=9 / 16)[0]}  # its 16:9 band
    unknown, _ = hash_frames(frames)
    assert {h.region for h in unknown} - set(MOTION_REGIONS) == {
        REGION_FRAME,
        REGION_ZOOM,
        REGION_DEEP_ZOOM,
        REGION_MIRROR,
    }
    assert REGION_MOTION_CENTRE not in {h.region for h in unknown}
    assert REGION_CENTRE in {h.region for h in square}


@pytest.mark.parametrize("seed", SEEDS)
def test_a_square_crop_of_a_vertical_video_matches_its_centre_square(seed):
    # Pictures arrive squashed to a square: a 9:16 video's centre square is its middle 9/16 rows.
    pictures = [texture(seed + 10 * k) for k in range(4)]
    stored, _ = hash_frames([DecodedFrame(p, k, k * 0.25) for k, p in enumerate(pictures)], aspect=9 / 16)
    keep = round(SIDE * 9 / 16)
    start = (SIDE - keep) // 2
    square = [cv2.resize(p[start : start + keep], (SIDE, SIDE), interpolation=cv2.INTER_AREA) for p in pictures]
    copy, _ = hash_frames([DecodedFrame(p, k, k * 0.25) for k, p in enumerate(square)], aspect=1.0)
    centres: dict[float, list[bytes]] = {}
    for h in stored:
        if h.region == REGION_CENTRE:
            centres.setdefault(h.ts_s, []).append(h.hash)
    pairs = [(h.hash, centres[h.ts_s]) for h in copy if h.region == REGION_FRAME and h.ts_s in centres]
    assert len(pairs) >= 3
    for whole, both in pairs:
        assert len(both) == 2  # the 16:9 band and the square
        assert min(hamming(whole, c) for c in both) <= 4


def test_pictures_are_means_over_short_windows():
    # 25 frames a second: one picture every HASH_STEP_S, each the mean of its window's frames.
    frames = [DecodedFrame(texture(k % 7), k, k / 25) for k in range(50)]
    hashes, seen = hash_frames(frames)
    primary = [h for h in hashes if h.region == REGION_FRAME]
    assert seen == 50
    assert [h.ts_s for h in primary] == [k * defaults.HASH_STEP_S for k in range(len(primary))]
    # up to the last instant at or before the last frame (1.96 s)
    last = max(k * defaults.HASH_STEP_S for k in range(100) if k * defaults.HASH_STEP_S <= 49 / 25)
    assert primary[-1].ts_s == last


# --- picture-in-picture ---------------------------------------------------------------------


def moving(seed: int, frames: int, height: int = SIDE, width: int = SIDE, cells: int = 12) -> np.ndarray:
    """A texture panning one pixel per picture (back to the start after `width`): (frames, height, width)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (cells, cells * 2)).astype(np.float32)
    wide = np.clip(cv2.resize(small, (width * 2, height), interpolation=cv2.INTER_CUBIC), 0, 255)
    return np.stack([wide[:, k % width : k % width + width] for k in range(frames)]).astype(np.uint8)


def with_inset(host: np.ndarray, inset: np.ndarray, top: int, left: int) -> np.ndarray:
    out = host.copy()
    out[:, top : top + inset.shape[1], left : left + inset.shape[2]] = inset
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("top, left, height, width", [(7, 7, 51, 51), (62, 70, 40, 50), (10, 60, 64, 48)])
def test_find_inset_locates_a_moving_inset_to_the_pixel(seed, top, left, height, width):
    # A detailed clip shrunk over a smooth host: texture differs across all four edges.
    host = moving(seed, 32)
    clip = moving(seed + 50, 32, height, width, cells=24)
    box = find_inset(with_inset(host, clip, top, left))
    assert box is not None
    assert_box_close(box, (top, top + height, left, left + width), tol=1)


@pytest.mark.parametrize("seed", range(3))
def test_find_inset_ignores_plain_video_and_static_logos(seed):
    host = moving(seed, 32)
    assert find_inset(host) is None
    logo = np.repeat(sharp_texture(seed)[None, :40, :40], 32, axis=0)  # a held picture, not a video
    assert find_inset(with_inset(host, logo, 8, 8)) is None


def test_inset_is_hashed_as_its_own_region_matching_the_clip():
    # 3 s at 25 fps: the clip shown full frame, and shrunk into a corner over another video.
    host = moving(1, 75)
    clip = moving(7, 75, cells=24)
    small = np.stack([cv2.resize(f, (52, 52), interpolation=cv2.INTER_AREA) for f in clip])
    pip = with_inset(host, small, 8, 8)
    pip_hashes, _ = hash_frames([DecodedFrame(f, k, k / 25) for k, f in enumerate(pip)])
    clip_hashes, _ = hash_frames([DecodedFrame(f, k, k / 25) for k, f in enumerate(clip)])
    insets = {h.ts_s: h.hash for h in pip_hashes if h.region == REGION_INSET}
    whole = {h.ts_s: h.hash for h in clip_hashes if h.region == REGION_FRAME}
    assert len(insets) >= 0.9 * len(whole)
    distances = [hamming(insets[t], whole[t]) for t in insets if t in whole]
    assert np.median(distances) <= defaults.MAX_DISTANCE_BITS
    host_hashes, _ = hash_frames([DecodedFrame(f, k, k / 25) for k, f in enumerate(host)])
    unrelated = [hamming(insets[h.ts_s], h.hash) for h in host_hashes if h.region == REGION_FRAME and h.ts_s in insets]
    assert np.median(unrelated) > 2 * defaults.MAX_DISTANCE_BITS
    assert not any(h.region == REGION_INSET for h in clip_hashes)


@pytest.mark.parametrize("n", [1, 2, 5, 127, 128])
@pytest.mark.parametrize("seed", range(3))
def test_percentile_by_partial_sort_equals_numpy(n, seed):
    from vidtrace.fingerprint import _percentile

    values = np.random.default_rng(seed).random(n).astype(np.float32)
    for q in (0, 50, 90, 100):
        assert _percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_the_last_short_stretch_of_a_pip_video_still_gets_its_inset():
    # A full 8 s stretch, then 0.2 s: too short alone, it is searched with what came before.
    frames = round((defaults.INSET_CHUNK_S + 0.2) * 25)
    host = moving(1, frames)
    small = np.stack([cv2.resize(f, (52, 52), interpolation=cv2.INTER_AREA) for f in moving(7, frames, cells=24)])
    pip = with_inset(host, small, 8, 8)
    hashes, _ = hash_frames([DecodedFrame(f, k, k / 25) for k, f in enumerate(pip)])
    inset_times = [h.ts_s for h in hashes if h.region == REGION_INSET]
    assert min(inset_times) == 0.0
    assert max(inset_times) > defaults.INSET_CHUNK_S


def test_inset_of_a_lookalike_video_is_found_by_its_finer_detail(tmp_path):
    # Two runs of the same game of life (other seeds): their texture, motion and brightness are
    # alike, so only the shrunk copy's finer detail sets the inset apart from its host.
    clip, host = FIXTURE_VIDEOS / "news_hub" / "orig_b.mp4", FIXTURE_VIDEOS / "garden_club" / "unrelated_c.mp4"
    pip = tmp_path / "pip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(host), "-i", str(clip), "-filter_complex",
         "[1:v]scale=128:-2[pip];[0:v][pip]overlay=W*0.05:H*0.05:shortest=1", "-t", "8",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1", "-preset", "ultrafast", str(pip)],
        check=True,
    )  # fmt: skip
    insets = {h.ts_s: h.hash for h in fingerprint_file(pip, Settings()).frames if h.region == REGION_INSET}
    whole = {h.ts_s: h.hash for h in fingerprint_file(clip, Settings()).frames if h.region == REGION_FRAME}
    assert len(insets) >= 0.9 * len([t for t in whole if t <= max(insets, default=0)]) > 40
    assert np.median([hamming(insets[t], whole[t]) for t in insets if t in whole]) <= defaults.MAX_DISTANCE_BITS


def test_window_means_of_many_frames_do_not_overflow():
    # 600 frames a second: each 0.5 s window sums 300 white frames, past what 16 bits hold.
    from vidtrace.fingerprint import _windows

    frames = [DecodedFrame(np.full((8, 8), 255, np.uint8), k, k / 600) for k in range(600)]
    means = [mean for _, mean, _ in _windows(frames, 0.5, 0.125)]
    assert len(means) == 8
    assert all(int(m.min()) == 255 for m in means)


# --- the change between pictures (talking heads before a still backdrop) ----------------------


def _talking(
    seed: int, motion_seed: int, seconds: float = 6.0, fps: float = 15.0, caption: bool = False, gain: float = 1.0
):
    """A still backdrop with a 'face' (a soft bright disc) that moves and changes size in a
    pattern of its own; optionally a static caption bar over it and a brightness change."""
    backdrop = texture(seed).astype(np.float32) * 0.6
    rng = np.random.default_rng(motion_seed)
    path = np.cumsum(rng.normal(0, 5.0, (int(seconds * 2) + 2, 3)), axis=0)  # a new pose every 0.5 s
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        i, f = int(t * 2), t * 2 - int(t * 2)
        cy, cx, r = (1 - f) * path[i] + f * path[i + 1]
        disc = 120.0 * np.exp(-(((yy - 64 - cy) ** 2 + (xx - 64 - cx) ** 2) / (2 * (18 + r / 2) ** 2)))
        picture = (backdrop + disc) * gain
        if caption:
            picture[114:126, 8:120] = 20.0
        frames.append(DecodedFrame(np.clip(picture, 0, 255).astype(np.uint8), k, t))
    return frames


def _motion(hashes):
    return {h.ts_s: h.hash for h in hashes if h.region == REGION_MOTION}


def test_a_still_picture_has_no_change_to_hash():
    frames = [DecodedFrame(texture(3), k, k / 15) for k in range(60)]
    hashes, _ = hash_frames(frames)
    assert hashes and not {h.region for h in hashes} & set(MOTION_REGIONS)


def test_the_change_of_a_talking_head_matches_its_captioned_copy_and_not_another_talk():
    original, _ = hash_frames(_talking(5, 1))
    copy, _ = hash_frames(_talking(5, 1, caption=True, gain=0.85))
    other, _ = hash_frames(_talking(5, 2))  # same backdrop, same framing, other movements
    a, b, c = _motion(original), _motion(copy), _motion(other)
    common = sorted(set(a) & set(b))
    assert len(common) >= 15
    close = [hamming(a[t], b[t]) for t in common]
    assert np.median(close) <= 4
    # The whole pictures of the talk hardly change: all within the match distance of each other.
    whole = [h.hash for h in original if h.region == REGION_FRAME]
    assert max(hamming(whole[0], h) for h in whole) <= 10
    apart = [hamming(a[t], c[t]) for t in sorted(set(a) & set(c))]
    assert np.median(apart) > 14
