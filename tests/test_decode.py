"""Decode options: the key-frame-only mode and the threads each ffmpeg may use."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidtrace import decode as dec
from vidtrace.errors import UsageError
from vidtrace.settings import Settings

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "fixtures"
    / "videos"
    / "news_hub"
    / "orig_a.mp4"
)


@pytest.fixture(autouse=True)
def default_threads():
    yield
    dec.set_decode_threads(None)


def _input_options(cmd: list[str]) -> list[str]:
    return cmd[: cmd.index("-i")]


def test_default_command_decodes_every_frame_with_ffmpeg_threads():
    cmd = dec.ffmpeg_command(FIXTURE, Settings())
    assert "-skip_frame" not in cmd
    assert "-threads" not in cmd and "-filter_threads" not in cmd


def test_keyframes_mode_skips_non_key_frames_in_the_decoder():
    cmd = dec.ffmpeg_command(FIXTURE, Settings(decode_mode="keyframes"))
    options = _input_options(cmd)
    assert options[options.index("-skip_frame") + 1] == "nokey"


def test_worker_threads_apply_to_decoder_and_filters():
    dec.set_decode_threads(1)
    cmd = dec.ffmpeg_command(FIXTURE, Settings())
    options = _input_options(cmd)
    assert options[options.index("-threads") + 1] == "1"
    assert options[options.index("-filter_threads") + 1] == "1"


def test_unknown_decode_mode_is_a_usage_error():
    with pytest.raises(UsageError):
        dec.ffmpeg_command(FIXTURE, Settings(decode_mode="sometimes"))


def test_keyframes_mode_decodes_fewer_frames_in_time_order():
    every = [f.ts_s for f in dec.decode(FIXTURE, Settings())]
    dec.set_decode_threads(1)
    keys = [f.ts_s for f in dec.decode(FIXTURE, Settings(decode_mode="keyframes"))]
    assert 1 <= len(keys) < len(every)
    assert keys == sorted(keys) and keys[0] == pytest.approx(0.0, abs=0.05)
