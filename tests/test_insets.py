"""Picture-in-picture over a talking head: the inset found by its straight edges, and how it
changes hashed, so a talking head shown small over another one finds its source."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from conftest import SHARED_VIDEOS, run
from vidtrace import regions
from vidtrace import settings as defaults
from vidtrace.decode import DecodedFrame
from vidtrace.fingerprint import MOTION_LAG_S, REGION_MOTION_INSET, _windows, change_picture, hash_frame, hash_frames
from vidtrace.hashes import hamming
from vidtrace.inset_lines import strongest
from vidtrace.insets import find_inset, inset_boxes, settled_boxes
from vidtrace.spec import INSET_EDGE_GAP_PX

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
TALKING_HEADS = SHARED_VIDEOS / "talking-heads"


def talking(seed: int, frames: int, side: int = 128, pace: float = 1.3, detail: int = 3) -> np.ndarray:
    """A talking head: a smooth still backdrop, an oval face, a mouth opening and closing (`pace`
    radians a picture); the backdrop has `detail` by `detail` smooth cells."""
    rng = np.random.default_rng(seed)
    backdrop = cv2.resize(
        rng.uniform(40, 200, (detail, detail)).astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC
    )
    yy, xx = np.mgrid[0:side, 0:side]
    centre_y, centre_x = side * 0.45, side * 0.5
    face = ((yy - centre_y) / (side * 0.3)) ** 2 + ((xx - centre_x) / (side * 0.2)) ** 2 <= 1
    skin = rng.uniform(120, 230)
    out = []
    for k in range(frames):
        picture = backdrop.copy()
        picture[face] = skin
        for eye in (-0.08, 0.08):
            cv2.circle(picture, (int(centre_x + eye * side), int(centre_y - 0.06 * side)), max(1, side // 40), 30, -1)
        opening = 1 + round(side * 0.1 * (0.5 + 0.5 * np.sin(k * pace + seed)))
        cv2.ellipse(picture, (int(centre_x), int(centre_y + 0.15 * side)), (side // 12, opening), 0, 0, 360, 20, -1)
        out.append(picture)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def shown_small(host: np.ndarray, guest: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    out = host.copy()
    out[:, top : top + side, left : left + side] = [
        cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in guest
    ]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_talking_head_shown_small_over_another_is_found_by_its_edges(seed):
    # The host's face moves and the inset's hardly does: only the inset's straight sides tell.
    pictures = shown_small(talking(seed, 16), talking(seed + 10, 16), top=5, left=88, side=36)
    box = find_inset(pictures)
    assert box is not None
    assert max(abs(a - b) for a, b in zip(box, (5, 41, 88, 124))) <= 2


def test_a_pasted_still_picture_is_not_an_inset():
    host = talking(1, 16)
    still = np.repeat(talking(11, 1), 16, axis=0)  # one held picture: a logo, a card
    assert find_inset(shown_small(host, still, top=5, left=88, side=36)) is None


def inset_changes(copy: np.ndarray) -> dict[float, list[bytes]]:
    """The inset's change hashes at each instant of a copy at 25 frames a second (an inset with
    padding of its own has two: its whole box's and its content's)."""
    changes = defaultdict(list)
    for h in hash_frames([DecodedFrame(p, k, k / 25) for k, p in enumerate(copy)])[0]:
        if h.region == REGION_MOTION_INSET:
            changes[h.ts_s].append(h.hash)
    return changes


def own_changes(guest: np.ndarray, rows: int | None = None) -> dict[float, bytes]:
    """The guest's own change over each half second, as its source stores it (its first `rows`
    lines: its content without padding)."""
    pictures = (DecodedFrame(p, k, k / 25) for k, p in enumerate(guest))
    windows = _windows(pictures, defaults.HASH_WINDOW_S, defaults.HASH_STEP_S)
    means = {round(ts, 3): mean[:rows] for ts, mean, _ in windows}
    own = {}
    for ts, mean in means.items():
        before = means.get(round(ts - MOTION_LAG_S, 3))
        changed = None if before is None else change_picture(mean, before)
        if changed is not None:
            own[ts] = hash_frame(changed[0])
    return own


def median_bits(own: dict[float, bytes], changes: dict[float, list[bytes]]) -> tuple[int, float]:
    """How many instants both have, and the median distance from each own change to the nearest
    of the inset's changes at that instant."""
    shared = sorted(set(own) & set(changes))
    return len(shared), float(np.median([min(hamming(own[ts], code) for code in changes[ts]) for ts in shared]))


def test_the_change_within_an_inset_is_hashed_and_matches_the_guest_change():
    # 4 s at 25 frames a second: the guest shown small over a host whose face moves too.
    guest = talking(12, 100, pace=0.15)
    copy = shown_small(talking(2, 100, pace=0.2), guest, top=5, left=80, side=40)
    shared, bits = median_bits(own_changes(guest), inset_changes(copy))
    assert shared >= 10
    assert bits <= 6


@pytest.mark.parametrize("seed", range(3))
def test_an_insets_change_is_also_hashed_without_the_insets_own_padding(seed, monkeypatch):
    # The guest has a black bar of its own along its bottom (8 of 128 lines), as a clip letterboxed
    # by its maker does; its source is stored without the bar, so its change is of its content.
    guest = talking(12 + seed, 100, pace=0.15, detail=6)
    guest[:, 120:, :] = 0
    copy = shown_small(talking(2 + seed, 100, pace=0.2), guest, top=5, left=70, side=52)
    monkeypatch.setattr(regions, "inset_boxes", lambda means, aspect=None: [(5, 57, 70, 122)])
    shared, bits = median_bits(own_changes(guest, rows=120), inset_changes(copy))
    assert shared >= 20
    assert bits <= 2  # the whole inset's change, bar included, lies about 10 bits from it


def inset_copy_matches(
    folder: Path, speech: str, host: str, host_size: str, overlay: str, width: int = 160
) -> list[dict]:
    """The matches of a store holding 12 s of the real talking head `speech` and, silent, the same
    speech `width` pixels wide over the talking head `host` (scaled to `host_size`) at `overlay`."""
    folder.mkdir()
    source = folder / "speech.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(TALKING_HEADS / speech), "-t", "12", "-an",
                    "-c:v", "libx264", "-preset", "ultrafast", str(source)], check=True)  # fmt: skip
    subprocess.run([FFMPEG, "-v", "error", "-y", "-stream_loop", "-1", "-i", str(TALKING_HEADS / host),
                    "-i", str(source), "-filter_complex",
                    f"[0:v]scale={host_size},setsar=1[host];[1:v]scale={width}:-2,setsar=1[pip];[host][pip]overlay={overlay}:shortest=1",
                    "-an", "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", str(folder / "inset.mp4")],
                   check=True)  # fmt: skip
    store = folder.parent / "store"
    assert run(store, "ingest", folder).exit_code == 0
    return json.loads(run(store, "matches", "--json").stdout)["matches"]


@pytest.mark.skipif(not (TALKING_HEADS / "d10.mp4").exists(), reason="real talking heads not present")
def test_a_real_talking_head_inset_over_another_matches_its_source(tmp_path):
    # the speech a quarter wide in the top right corner over another talking head
    matches = inset_copy_matches(tmp_path / "case", "d10.mp4", "d3.mp4", "640:360", "W-w-20:10")
    assert len(matches) == 1
    match = matches[0]
    assert match["kind"] == "copy" and match["matched_s"] >= 6


@pytest.mark.skipif(not (TALKING_HEADS / "d0.mp4").exists(), reason="real talking heads not present")
def test_a_real_talking_head_with_its_own_bar_shown_small_matches_its_source(tmp_path):
    # A man who barely moves before a green screen, with a black bar along his clip's bottom,
    # shown 0.4 as wide in the top left corner over another talking head. His clip's pictures
    # are one held picture: only how they change says when the two agree, and his source's change
    # is stored without the bar.
    matches = inset_copy_matches(tmp_path / "case", "d0.mp4", "d6.mp4", "512:512", "W*0.05:H*0.05", 204)
    assert len(matches) == 1
    match = matches[0]
    assert match["kind"] == "copy" and match["matched_s"] >= 2.5


def with_wall_corner(pictures: np.ndarray) -> np.ndarray:
    """The pictures with a straight, sharp edge down their right part (a wall's corner, a door):
    a straight line inside the guest, as strong as its pasted sides."""
    out = pictures.astype(np.int16)
    side = pictures.shape[2]
    out[:, :, int(side * 0.78) :] += 70
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_a_straight_line_inside_the_inset_is_not_taken_for_its_side(seed):
    # The guest's own corner line makes a smaller rectangle inside the inset with three of its
    # sides; the whole inset is the larger one, of the guest's square shape.
    guest = with_wall_corner(talking(seed + 20, 16))
    pictures = shown_small(talking(seed, 16), guest, top=84, left=80, side=40)
    box = find_inset(pictures, aspect=1.0)
    assert box is not None
    assert max(abs(a - b) for a, b in zip(box, (84, 124, 80, 120))) <= 2


@pytest.mark.parametrize("seed", range(4))
def test_a_hosts_line_running_past_the_inset_is_not_its_side(seed):
    # The host has a long straight line (the top of a news ticker) just under the inset's bottom
    # side and running on across the picture; the inset's own bottom side ends at its corners.
    host = talking(seed, 16)
    host[:, 100:, :] = np.clip(host[:, 100:, :].astype(np.int16) - 90, 0, 255).astype(np.uint8)
    pictures = shown_small(host, talking(seed + 30, 16), top=60, left=84, side=36)
    box = find_inset(pictures, aspect=1.0)
    assert box is not None
    assert max(abs(a - b) for a, b in zip(box, (60, 96, 84, 120))) <= 2


def test_two_edges_a_few_lines_apart_along_other_stretches_are_both_candidates():
    # A bar's edge on line 121 along the left of the picture, an inset's bottom side on line 123
    # under the inset only: two edges. Line 122 along the inset's stretch is the inset's side
    # seen again: one edge.
    values = np.zeros(128)
    starts, ends = np.zeros(128, dtype=np.int64), np.full(128, 127)
    for line, value, stretch in (
        (121, 9.0, (3, 80)),
        (123, 7.0, (82, 124)),
        (122, 6.0, (84, 124)),
        (60, 2.0, (0, 127)),
    ):
        values[line], starts[line], ends[line] = value, *stretch
    assert sorted(strongest(values, 3, 3, starts, ends)) == [60, 121, 123]
    assert sorted(strongest(values, 2, 3, np.zeros(128, dtype=np.int64), np.full(128, 127))) == [60, 121]


def test_a_side_two_lines_from_a_stronger_line_along_it_is_a_candidate():
    # A talking head's collar 2 lines inside its inset's bottom side, along the same stretch: two
    # edges. The side seen again on the next line (an edge between two pixels blends): one.
    values = np.zeros(128)
    values[[57, 55, 58, 100]] = (4.0, 9.0, 3.5, 1.0)
    starts, ends = np.full(128, 7), np.full(128, 57)
    assert sorted(strongest(values, 3, INSET_EDGE_GAP_PX, starts, ends)) == [55, 57, 100]


@pytest.mark.parametrize("seed", range(8))
def test_a_line_across_the_whole_host_is_not_the_side_of_an_inset_whose_own_side_is_faint(seed):
    # A desk's edge runs across the host below a quarter-wide inset whose bottom rows fade
    # towards the host (its bottom side shows, weakly). The desk's line ends nowhere near the
    # inset's corners: it runs on past both, so it is no side of a pasted picture.
    rng = np.random.default_rng(seed)
    host = np.full((16, 128, 128), 110.0) + rng.normal(0, 3, (16, 128, 128))
    host[:, 64:, :] += 60
    pictures = shown_small(host.astype(np.float32), talking(seed + 10, 16).astype(np.float32), top=4, left=92, side=32)
    fade = np.linspace(1, 0.5, 8)[None, :, None]
    pictures[:, 28:36, 92:124] = pictures[:, 28:36, 92:124] * fade + host[:, 28:36, 92:124] * (1 - fade)
    assert inset_boxes(pictures, aspect=1.0) == [(4, 36, 92, 124)]


@pytest.mark.parametrize("seed", [0, 2, 3, 5, 6, 7])
def test_an_inset_side_found_on_a_line_inside_it_is_also_moved_to_the_insets_shape(seed):
    # The guest has a strong straight line near its right side (a door's edge): the search took
    # the line for the side. Every side shows, so none is faint; the box, 36 by 40, is none of the
    # common shapes, and the nearest (1:1) makes it wider: in a corner of the frame, it is also
    # hashed with either side across its width moved outwards. (With seeds 1 and 4 the guest's
    # top barely differs from the host, and that faint side is the one moved.)
    guest = talking(seed + 10, 16).astype(np.int16)
    guest[:, :, 115:] = np.clip(guest[:, :, 115:] + 70, 0, 255)
    pictures = shown_small(talking(seed, 16), guest.astype(np.uint8), top=84, left=80, side=40)
    found = (84, 124, 80, 116)
    boxes = settled_boxes(pictures, found, aspect=1.0)
    assert boxes[0] == found
    assert (84, 124, 80, 120) in boxes  # the true box
    assert len(boxes) == 3 and (84, 124, 76, 116) in boxes  # and the other side moved instead
    assert settled_boxes(pictures, (84, 124, 80, 120), aspect=1.0) == [(84, 124, 80, 120)]  # a square stays
    # The same box in the middle of the frame is what a face taken for an inset looks like:
    # editors put insets in a corner. Its right side, which shows, stays.
    middle = shown_small(talking(seed, 16), guest.astype(np.uint8), top=44, left=44, side=40)
    assert (44, 84, 44, 84) not in settled_boxes(middle, (44, 84, 44, 80), aspect=1.0)


@pytest.mark.skipif(not (TALKING_HEADS / "d6.mp4").exists(), reason="real talking heads not present")
def test_a_speech_before_a_plain_wall_shown_a_third_wide_matches_its_source(tmp_path):
    # The speaker's wall is flat: it is her picture's backdrop, not padding, on the stored side as
    # in the inset; and the inset's own lines (her hair against the wall) are not its sides.
    matches = inset_copy_matches(tmp_path / "case", "d6.mp4", "d10.mp4", "480:480", "W-w-14:H-h-14")
    assert len(matches) == 1
    assert matches[0]["kind"] == "copy" and matches[0]["matched_s"] >= 6


@pytest.mark.parametrize("seed", [0, 1, 2, 6, 7])
def test_an_insets_sides_are_found_to_the_pixel(seed):
    # A quarter-wide inset is 32 pixels of 128: a side one pixel off changes its hash. (With seeds
    # 3 to 5 the search takes the host's face for the inset instead.)
    pictures = shown_small(talking(seed, 16), talking(seed + 10, 16), top=4, left=92, side=32)
    assert find_inset(pictures, aspect=1.0) == (4, 36, 92, 124)


@pytest.mark.parametrize("aspect", [1.0, 16 / 9])
@pytest.mark.parametrize("seed", range(4))
def test_an_inset_side_that_barely_shows_is_also_placed_by_the_insets_shape(seed, aspect):
    # A video shown small over another of its shape, square or 16:9 (pictures arrive squashed to
    # a square, so the inset is as many pixels wide as high). The guest's top rows fade into the
    # host's wall (a pale wall shown over a pale wall): no line marks the top side, which is
    # found lower, where the guest starts to differ, and the box then has none of the common
    # shapes (a square found 5 pixels short is near 5:4, not at it).
    host = talking(seed, 16)
    pictures = shown_small(host, talking(seed + 10, 16), top=20, left=80, side=40).astype(np.float32)
    fade = np.linspace(0, 1, 6)[None, :, None]
    pictures[:, 20:26, 80:120] = host[:, 20:26, 80:120] * (1 - fade) + pictures[:, 20:26, 80:120] * fade
    found = (25, 60, 80, 120)
    boxes = settled_boxes(pictures, found, aspect=aspect)
    assert boxes[0][1:] == found[1:]  # the sides that show stay
    assert boxes[1] == (20, 60, 80, 120)  # and the guest's shape places the top
    assert settled_boxes(pictures, found, aspect=None) == boxes[:1]  # no display shape, no guess
    sharp = shown_small(host, talking(seed + 10, 16), top=20, left=80, side=40)
    assert settled_boxes(sharp, (21, 60, 80, 120), aspect=aspect) == [(20, 60, 80, 120)]  # all sides show


@pytest.mark.parametrize("seed", [1, 3])
def test_an_inset_in_a_corner_is_found_beside_a_sharper_rectangle_elsewhere(seed):
    """A host's body with sharp sides standing on a black bar makes a sharper rectangle than a
    pale inset in the top left corner: both are hashed (the body costs hashes, never a match)."""
    host = talking(seed, 16).astype(np.float32)
    host[:, 121:, :] = 0
    for k in range(16):
        host[k, 60:121, 43:88] = 200 + 30 * np.sin(k + np.arange(45) / 5)[None, :]
    guest = 0.5 * talking(seed + 10, 16).astype(np.float32) + 0.5 * host[:, :1, :1].mean()
    pictures = shown_small(host.clip(0, 255).astype(np.uint8), guest.clip(0, 255).astype(np.uint8), 6, 6, 51)
    boxes = inset_boxes(pictures, aspect=1.0)
    assert max(abs(a - b) for a, b in zip(boxes[0], (60, 121, 43, 88))) <= 1  # the sharper one first
    assert any(max(abs(a - b) for a, b in zip(box, (6, 57, 6, 57))) <= 1 for box in boxes)


@pytest.mark.skipif(not (TALKING_HEADS / "d19.mp4").exists(), reason="real talking heads not present")
def test_a_real_talking_head_in_a_corner_over_a_face_on_a_bar_matches_its_source(tmp_path):
    # `d19` 0.4 as wide in the top left corner over `d0`, whose face over his clip's black bar
    # makes a sharper rectangle than the inset's sides (its bottom side runs between `d19`'s
    # collar and `d0`'s hair, both stronger lines).
    matches = inset_copy_matches(tmp_path / "case", "d19.mp4", "d0.mp4", "480:480", "W*0.05:H*0.05", 192)
    assert len(matches) == 1
    assert matches[0]["kind"] == "copy" and matches[0]["matched_s"] >= 6
