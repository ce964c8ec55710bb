"""Which region pairs may explain a hit, the edits they imply, and the query's held pictures."""

from __future__ import annotations

import numpy as np
import pytest

from vidtrace.fingerprint import REGION_CENTRE, REGION_CONTENT, REGION_FRAME, REGION_INSET, REGION_MIRROR, REGION_ZOOM
from vidtrace.matching import CROPPED, INSET, MIRRORED, PADDED, REFRAMED, plausible, held_spans, region_edits
from vidtrace.settings import Settings

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


def test_region_pairs_name_the_edit_that_explains_them():
    assert region_edits(REGION_FRAME, REGION_FRAME, False) == frozenset()
    assert region_edits(REGION_CONTENT, REGION_FRAME, False) == {PADDED}
    assert region_edits(REGION_ZOOM, REGION_FRAME, False) == {CROPPED}
    assert region_edits(REGION_FRAME, REGION_CENTRE, False) == {REFRAMED}
    assert region_edits(REGION_INSET, REGION_FRAME, False) == {INSET}
    assert region_edits(REGION_FRAME, REGION_MIRROR, True) == {MIRRORED}
    assert region_edits(REGION_CENTRE, REGION_CENTRE, False) == frozenset()


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
