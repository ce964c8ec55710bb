"""The change where a talking head moves, hashed in a box found from the motion itself: a copy
cropped around the face, at any size, finds the same box and the same change in it."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import cv2
import numpy as np
import pytest

from conftest import SHARED_VIDEOS, crop_copy, run
from test_insets import talking
from vidtrace.decode import DecodedFrame
from vidtrace.fingerprint import hash_frames
from vidtrace.hashes import hamming
from vidtrace.regions import focus_box
from vidtrace.spec import REGION_MOTION_FOCUS

D0 = SHARED_VIDEOS / "talking-heads" / "d0.mp4"


def cropped(pictures: np.ndarray, share: float) -> np.ndarray:
    """Each picture without `share` of each side, scaled back up to its size (as decoding does)."""
    side = pictures.shape[1]
    cut = round(side * share)
    return np.stack([cv2.resize(p[cut : side - cut, cut : side - cut], (side, side), interpolation=cv2.INTER_LINEAR)
                     for p in pictures])  # fmt: skip


def focus_changes(pictures: np.ndarray) -> dict[float, bytes]:
    """The focus change hash at each instant of pictures at 25 a second."""
    found: dict[float, list[bytes]] = defaultdict(list)
    for h in hash_frames([DecodedFrame(p, k, k / 25) for k, p in enumerate(pictures)])[0]:
        if h.region == REGION_MOTION_FOCUS:
            found[h.ts_s].append(h.hash)
    assert all(len(codes) == 1 for codes in found.values())
    return {ts: codes[0] for ts, codes in found.items()}


def speaker(seed: int, frames: int = 100) -> np.ndarray:
    """A talking head (`talking`) with a hand moving beside the face: a face and a mouth alone are
    symmetric, and the lowest frequencies of a symmetric change (half of pHash's bits) are near
    their median, so a tenth of a pixel flips them."""
    pictures = talking(seed, frames, pace=0.15, detail=6)
    for k, picture in enumerate(pictures):
        centre = (round(80 + 6 * np.sin(0.09 * k + seed)), round(80 + 5 * np.cos(0.06 * k)))
        cv2.circle(picture, centre, 6, 235, -1)
    return pictures


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("share", [0.1, 0.15, 0.2])
def test_a_crop_of_any_size_around_a_talking_head_keeps_its_focus_change(seed, share):
    # 4 s of a speaker before a still backdrop with some detail; the copy loses `share` of every
    # side. The fixed change regions cut 15% and 20% of each side; a crop of another size scales
    # the change against each of them.
    source = speaker(seed)
    own, copy = focus_changes(source), focus_changes(cropped(source, share))
    shared = sorted(set(own) & set(copy))
    assert len(shared) >= 20
    assert np.median([hamming(own[ts], copy[ts]) for ts in shared]) <= 6


def test_the_focus_box_of_a_mirrored_picture_is_the_mirrored_box():
    change = np.zeros((64, 64), np.float32)
    change[10:30, 40:52] = 50
    change[20:24, 30:34] = 80
    top, bottom, left, right = focus_box([change], 1.0)
    assert focus_box([change[:, ::-1]], 1.0) == pytest.approx((top, bottom, 1 - right, 1 - left), abs=1e-6)


def test_the_focus_box_surrounds_the_motion_in_display_proportions():
    change = np.zeros((90, 160), np.float32)  # a 16:9 picture
    change[20:40, 100:120] = 50  # a square that moved
    top, bottom, left, right = focus_box([change], aspect=16 / 9)
    assert abs((top + bottom) / 2 * 90 - 30) <= 2 and abs((left + right) / 2 * 160 - 110) <= 2  # a cell: 2.5 px
    assert 20 <= (bottom - top) * 90 <= 40  # about the moving square's size...
    assert abs((bottom - top) * 90 - (right - left) * 160) <= 1  # ...and square on the screen


def test_no_focus_box_where_nothing_moves_or_everything_does():
    assert focus_box([np.zeros((64, 64), np.float32)], 1.0) is None
    everywhere = np.random.default_rng(1).normal(0, 30, (64, 64)).astype(np.float32)
    assert focus_box([everywhere, -everywhere], 1.0) is None


def cropped_copy_matches(tmp_path, source, share: float) -> list[dict]:
    """The matches of a store holding the real clip `source` and a copy of it without `share` of
    each side, kept small."""
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(source, folder / "source.mp4")
    crop_copy(source, folder / "cropped.mp4", share)
    store = tmp_path / "store"
    assert run(store, "ingest", folder).exit_code == 0
    return json.loads(run(store, "matches", "--json").stdout)["matches"]


@pytest.mark.skipif(not D0.exists(), reason="real talking heads not present")
@pytest.mark.parametrize("share", [0.1, 0.15])
def test_a_real_still_talking_head_cropped_and_kept_small_matches_its_source(tmp_path, share):
    # A man who barely moves before a green screen, 3.1 s: every picture of his clip is one held
    # picture, so only the change can place a copy in time, and a crop of 10 or 15% a side scales
    # his change against each fixed change region.
    matches = cropped_copy_matches(tmp_path, D0, share)
    assert len(matches) == 1
    assert matches[0]["kind"] == "copy" and matches[0]["matched_s"] >= 2.5
