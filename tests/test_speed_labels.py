"""Speed labels only where the evidence is clear: an untouched re-encode carries none, a real
speed change keeps its label."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from conftest import fixture_clip, run


def _encode(source: Path, target: Path, *options: str) -> Path:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(source), *options, "-c:v", "libx264", "-threads", "1", str(target)],
        check=True,
    )  # fmt: skip
    return target


def _segments(store: Path, clip: Path) -> list[dict]:
    result = run(store, "lookup", clip, "--json")
    assert result.exit_code == 0, result.stderr
    return [s | {"video_id": m["video_id"]} for m in json.loads(result.stdout)["matches"] for s in m["segments"]]


def test_an_untouched_re_encode_carries_no_speed_label_and_a_real_speed_change_keeps_it(ingested_store, tmp_path):
    # Re-encoded at 24 frames a second, nothing else changed: every segment at speed 1, unlabelled.
    copy = _encode(fixture_clip("a_trimmed.mp4"), tmp_path / "a_trimmed_reencoded.mp4", "-crf", "30", "-r", "24")
    segments = _segments(ingested_store, copy)
    assert len({s["video_id"] for s in segments}) == 4  # a_trimmed, orig_a, a_reencoded, the compilation
    for s in segments:
        assert s["speed"] == 1.0, s
        assert not {"sped up", "slowed down"} & set(s["edits"]), s
    # Played 1.1x: the speed and its label stay.
    faster = _encode(fixture_clip("orig_a.mp4"), tmp_path / "orig_a_faster.mp4", "-vf", "setpts=PTS/1.1", "-crf", "23")
    best = [s for s in _segments(ingested_store, faster) if s["video_id"] == 1]
    assert best and best[0]["speed"] == pytest.approx(1.1, abs=0.02)
    assert {"sped up", "slowed down"} & set(best[0]["edits"])
