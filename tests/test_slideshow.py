"""Slideshows (still pictures held for seconds, a common form of re-posted propaganda) through the
real command. A held picture is no evidence on its own; slides that change at the same instants in
both videos are."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg

from conftest import fixture_clip, run

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _slideshow(source: Path, out: Path, hold_s: int, slides: int) -> None:
    """One frame of `source` every 2 s, each held `hold_s` seconds."""
    graph = f"select='eq(mod(n\\,50)\\,0)',setpts=N*{hold_s}/TB,fps=25,format=yuv420p"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-i", str(source), "-vf", graph, "-frames:v", str(slides * hold_s * 25),
         "-c:v", "libx264", "-preset", "ultrafast", str(out)],
        check=True,
    )  # fmt: skip


def test_a_slideshow_matches_its_copy_over_its_whole_length_and_not_another_slideshow(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _slideshow(fixture_clip("orig_b.mp4"), folder / "slides.mp4", hold_s=6, slides=6)
    _slideshow(fixture_clip("unrelated_c.mp4"), folder / "other_slides.mp4", hold_s=6, slides=6)
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-i", str(folder / "slides.mp4"), "-vf", "scale=240:180,eq=brightness=0.05",
         "-c:v", "libx264", "-crf", "30", "-preset", "ultrafast", str(folder / "copy.mp4")],
        check=True,
    )  # fmt: skip
    store = tmp_path / "store"
    assert run(store, "ingest", folder).exit_code == 0
    matches = json.loads(run(store, "matches", "--json").stdout)["matches"]
    pairs = {frozenset(Path(m[side]["uploads"][0]["path"]).name for side in "ab"): m for m in matches}
    assert set(pairs) == {frozenset({"slides.mp4", "copy.mp4"})}
    match = pairs[frozenset({"slides.mp4", "copy.mp4"})]
    assert match["matched_s"] >= 30  # of 36 s: the held slides between changes count once aligned
