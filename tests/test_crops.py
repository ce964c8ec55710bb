"""Re-posters' crops kept at the smaller size: a fifth off every side (36% of the picture kept)
still finds its source, through the real command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SHARED_VIDEOS, crop_copy, fixture_clip, run


def _pairs(store: Path) -> dict[frozenset[str], dict]:
    matches = json.loads(run(store, "matches", "--json").stdout)["matches"]
    return {frozenset(Path(m[side]["uploads"][0]["path"]).name for side in "ab"): m for m in matches}


SOURCES = pytest.mark.parametrize(
    "source",
    [fixture_clip("orig_a.mp4"), pytest.param(SHARED_VIDEOS / "talking-heads" / "d10.mp4", marks=pytest.mark.skipif(
        not (SHARED_VIDEOS / "talking-heads" / "d10.mp4").exists(), reason="real talking heads not present"))],
    ids=["moving", "talking head"],
)  # fmt: skip


@SOURCES
def test_a_copy_cropped_by_a_fifth_on_every_side_matches_its_source(tmp_path, source):
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(source, folder / "source.mp4")
    crop_copy(source, folder / "cropped.mp4", 0.2)
    store = tmp_path / "store"
    assert run(store, "ingest", folder).exit_code == 0
    match = _pairs(store)[frozenset({"source.mp4", "cropped.mp4"})]
    assert match["kind"] == "copy" and "pictures" in match["signals"]
    assert any("cropped" in segment["edits"] for segment in match["segments"])


@SOURCES
def test_a_copy_flipped_and_cropped_is_found_as_the_query(tmp_path, source):
    """The stored source has no region both mirrored and cropped: the copy's own mirror finds the
    source's crop, in a lookup and when the copy is ingested after its source."""
    shutil.copy(source, tmp_path / "source.mp4")
    crop_copy(source, tmp_path / "flipped.mp4", 0.15, flip=True)
    store = tmp_path / "store"
    assert run(store, "ingest", tmp_path / "source.mp4").exit_code == 0
    found = json.loads(run(store, "lookup", tmp_path / "flipped.mp4", "--json").stdout)["matches"]
    assert [Path(m["uploads"][0]["path"]).name for m in found] == ["source.mp4"]
    assert found[0]["kind"] == "copy" and found[0]["signals"] == ["pictures"]
    assert all({"mirrored", "cropped"} <= set(segment["edits"]) for segment in found[0]["segments"])
    assert run(store, "ingest", tmp_path / "flipped.mp4").exit_code == 0
    assert frozenset({"source.mp4", "flipped.mp4"}) in _pairs(store)
