"""Re-posters' crops kept at the smaller size: a fifth off every side (36% of the picture kept)
still finds its source, through the real command."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from conftest import SHARED_VIDEOS, fixture_clip, run

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _crop(source: Path, out: Path, share: float) -> None:
    keep = 1 - 2 * share
    graph = f"crop=trunc(iw*{keep:.2f}/2)*2:trunc(ih*{keep:.2f}/2)*2"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-vf", graph, "-c:v", "libx264", "-preset",
                    "ultrafast", str(out)], check=True)  # fmt: skip


def _pairs(store: Path) -> dict[frozenset[str], dict]:
    matches = json.loads(run(store, "matches", "--json").stdout)["matches"]
    return {frozenset(Path(m[side]["uploads"][0]["path"]).name for side in "ab"): m for m in matches}


@pytest.mark.parametrize(
    "source",
    [fixture_clip("orig_a.mp4"), pytest.param(SHARED_VIDEOS / "talking-heads" / "d10.mp4", marks=pytest.mark.skipif(
        not (SHARED_VIDEOS / "talking-heads" / "d10.mp4").exists(), reason="real talking heads not present"))],
    ids=["moving", "talking head"],
)  # fmt: skip
def test_a_copy_cropped_by_a_fifth_on_every_side_matches_its_source(tmp_path, source):
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(source, folder / "source.mp4")
    _crop(source, folder / "cropped.mp4", 0.2)
    store = tmp_path / "store"
    assert run(store, "ingest", folder).exit_code == 0
    match = _pairs(store)[frozenset({"source.mp4", "cropped.mp4"})]
    assert match["kind"] == "copy" and "pictures" in match["signals"]
    assert any("cropped" in segment["edits"] for segment in match["segments"])
