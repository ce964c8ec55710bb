"""Which query and stored regions may match, and the edits a hit between them reveals."""

from __future__ import annotations

from functools import lru_cache

from vidtrace.spec import (
    MOTION_REGIONS,
    REGION_CENTRE,
    REGION_CONTENT,
    REGION_DEEP_ZOOM,
    REGION_FRAME,
    REGION_INSET,
    REGION_MIRROR,
    REGION_MOTION_MIRROR,
    REGION_ZOOM,
)

MIRRORED = "mirrored"
PADDED = "padded"
CROPPED = "cropped"
REFRAMED = "reframed"
INSET = "picture in picture"
_WHOLE = (REGION_FRAME, REGION_CONTENT, REGION_MIRROR)
#: The mirrored whole content and its change. Stored: a flipped copy's own pictures find them.
#: Searched against the stored crops only (every region but the whole ones): a copy flipped and
#: cropped finds its source's crop with its own mirror, whichever of the two arrives first. A
#: mirror against a whole picture is a flipped copy, which the stored mirror finds already.
MIRRORS = (REGION_MIRROR, REGION_MOTION_MIRROR)


@lru_cache(maxsize=1024)
def region_edits(q_region: int | None, r_region: int) -> frozenset[str]:
    """The edits that explain a hit between a query region and a reference region (None: unknown).
    A change region explains what its picture region would."""
    mirrored = (q_region in MIRRORS) != (r_region in MIRRORS)
    if r_region in MOTION_REGIONS:
        q_region = MOTION_REGIONS.get(q_region, q_region) if q_region is not None else None
        r_region = MOTION_REGIONS[r_region]
    edits = {MIRRORED} if mirrored else set()
    if r_region == REGION_MIRROR:  # the mirrored whole content: its own padding is unknown
        return frozenset(edits | {MIRRORED})
    pair = {q_region, r_region}
    if pair & {REGION_ZOOM, REGION_DEEP_ZOOM} and len(pair) > 1:
        edits.add(CROPPED)
    if REGION_CENTRE in pair and len(pair) > 1:
        edits.add(REFRAMED)
    if REGION_INSET in pair and len(pair) > 1:
        edits.add(INSET)
    if pair == {REGION_FRAME, REGION_CONTENT}:
        edits.add(PADDED)
    return frozenset(edits)


def plausible(q_region: int | None, r_region: int) -> bool:
    """Region pairs worth a hit: at least one side whole (a crop of one matches the other whole),
    or the same crop of both (two whole frames that differ outside it: a logo, a caption). A
    change between pictures only ever matches a change, by the same rule. A query's mirror
    (`MIRRORS`) only matches the stored crops."""
    if q_region is None:
        return True
    if (q_region in MOTION_REGIONS) != (r_region in MOTION_REGIONS):
        return False
    if q_region in MOTION_REGIONS:
        q_region, r_region = MOTION_REGIONS[q_region], MOTION_REGIONS[r_region]
    if q_region == REGION_MIRROR:
        return r_region not in _WHOLE
    return q_region in _WHOLE or r_region in _WHOLE or q_region == r_region
