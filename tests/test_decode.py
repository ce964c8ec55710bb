"""Decode options: the key-frame-only mode, the threads each ffmpeg may use, and the two ways
ffmpeg reports each frame's time (a pipe of its own, or the showinfo filter for older builds)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from vidtrace import decode as dec
from vidtrace.errors import UsageError
from vidtrace.settings import Settings

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SOURCE = "testsrc2=size=160x120:rate={rate}"
ENCODE = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1", "-preset", "ultrafast"]

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "videos" / "news_hub" / "orig_a.mp4"


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
    # the graph is a -filter_complex one, whose thread pool has an option of its own
    assert options[options.index("-filter_complex_threads") + 1] == "1"


def test_unknown_decode_mode_is_a_usage_error():
    with pytest.raises(UsageError):
        dec.ffmpeg_command(FIXTURE, Settings(decode_mode="sometimes"))


def test_keyframes_mode_decodes_fewer_frames_in_time_order():
    every = [f.ts_s for f in dec.decode(FIXTURE, Settings())]
    dec.set_decode_threads(1)
    keys = [f.ts_s for f in dec.decode(FIXTURE, Settings(decode_mode="keyframes"))]
    assert 1 <= len(keys) < len(every)
    assert keys == sorted(keys) and keys[0] == pytest.approx(0.0, abs=0.05)


# --- frame times ------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Clips whose frame times are not a plain 0, 1/rate, 2/rate... sequence."""
    out = tmp_path_factory.mktemp("times")
    lavfi = ["-f", "lavfi", "-i"]
    _ffmpeg(*lavfi, SOURCE.format(rate=25), "-t", "4", *ENCODE, str(out / "cfr.mp4"))
    _ffmpeg(*lavfi, SOURCE.format(rate=25), "-t", "4", "-vf", "setpts='if(lt(N,25),N/25,1+(N-25)/5)/TB'",
            "-fps_mode", "vfr", *ENCODE, str(out / "vfr.mp4"))  # fmt: skip
    # about 100 fps with irregular gaps: 0, 14, 28, 30, 44, 58, 60... ms (Matroska keeps milliseconds)
    _ffmpeg(*lavfi, SOURCE.format(rate=100), "-t", "2", "-vf", "settb=1/1000,setpts='10*N+4*mod(N,3)'",
            "-fps_mode", "vfr", "-enc_time_base", "1:1000", *ENCODE, str(out / "jitter.mkv"))  # fmt: skip
    _ffmpeg(*lavfi, SOURCE.format(rate=25), "-t", "3", "-output_ts_offset", "10", *ENCODE, str(out / "offset.mp4"))
    _ffmpeg(*lavfi, SOURCE.format(rate=30000 / 1001), "-t", "3", *ENCODE, str(out / "ntsc.mp4"))
    # cut without re-encoding: an edit list hides the frames before 1.3 s
    _ffmpeg("-ss", "1.3", "-i", str(out / "cfr.mp4"), "-c", "copy", str(out / "trimmed.mp4"))
    # an elementary stream: no container timestamps at all
    _ffmpeg("-i", str(out / "cfr.mp4"), "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(out / "raw.h264"))
    _ffmpeg(*lavfi, SOURCE.format(rate=25), "-frames:v", "1", *ENCODE, str(out / "one_frame.mp4"))
    return {p.name: p for p in out.iterdir()}


def _decode(
    path: Path, times: str, settings: Settings | None = None, **options
) -> tuple[list[float], list[bytes], dec.Decoding]:
    state = dec.Decoding(path)
    original = dec.times_reporting
    dec.times_reporting = lambda settings: times
    try:
        frames = list(dec.decode(path, settings or Settings(), state, **options))
    finally:
        dec.times_reporting = original
    return [f.ts_s for f in frames], [f.pixels.tobytes() for f in frames], state


def test_the_bundled_ffmpeg_writes_frame_times_on_a_pipe():
    assert dec.times_reporting(Settings()) == dec.TIMES_PIPE


def test_times_on_a_pipe_replace_the_showinfo_filter():
    cmd = dec.ffmpeg_command(FIXTURE, Settings(), dec.TIMES_PIPE, times_fd=7)
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert "showinfo" not in graph
    assert cmd[cmd.index("-stats_enc_pre") + 1] == "pipe:7"
    assert cmd[cmd.index("-stats_enc_pre_fmt") + 1] == "{pts} {tb}"
    # the encoder keeps the graph's time base: the default (1/frame rate) would round VFR times
    assert cmd[cmd.index("-enc_time_base") + 1] == "filter"
    assert "showinfo" in dec.ffmpeg_command(FIXTURE, Settings(), dec.TIMES_SHOWINFO)[cmd.index("-filter_complex") + 1]
    assert "-stats_enc_pre" not in dec.ffmpeg_command(FIXTURE, Settings(), None)


def test_an_ffmpeg_without_frame_times_on_a_pipe_gets_showinfo(tmp_path):
    old = tmp_path / "old-ffmpeg"
    old.write_text("#!/bin/sh\necho \"Unrecognized option 'enc_time_base'.\" >&2\nexit 1\n")
    old.chmod(0o755)
    assert dec.times_reporting(Settings(ffmpeg_binary=str(old))) == dec.TIMES_SHOWINFO


def test_a_hanging_probe_is_killed_and_counts_as_no_feature(tmp_path):
    hang = tmp_path / "hanging-ffmpeg"
    hang.write_text("#!/bin/sh\nsleep 300 &\nsleep 300\n")
    hang.chmod(0o755)
    assert dec.times_reporting(Settings(ffmpeg_binary=str(hang), decode_timeout_s=0.5)) == dec.TIMES_SHOWINFO


@pytest.mark.parametrize(
    "line, seconds",
    [(b"0 1/15360\n", 0.0), (b"1024 1/15360\n", 1024 / 15360), (b"-3 1/25\n", -0.12), (b"90000 1/90000\n", 1.0)],
)
def test_times_lines_are_parsed_exactly(line, seconds):
    assert dec._parse_times_line(line, {}) == seconds


@pytest.mark.parametrize("line", [b"-9223372036854775808 1/25\n", b"N/A 1/25\n", b"12\n", b"", b"5 1/0\n"])
def test_a_frame_without_a_usable_time_reads_as_nan(line):
    assert math.isnan(dec._parse_times_line(line, {}))


_TIMED_CLIPS = [
    "cfr.mp4",
    "vfr.mp4",
    "jitter.mkv",
    "offset.mp4",
    "ntsc.mp4",
    "trimmed.mp4",
    "raw.h264",
    "one_frame.mp4",
]


@pytest.mark.parametrize(
    "name, mode",
    # trimmed.mp4 has no key frame in the part its edit list shows: nothing to compare in key-frame mode
    [(n, m) for m in dec.DECODE_MODES for n in _TIMED_CLIPS if (n, m) != ("trimmed.mp4", dec.DECODE_KEYFRAMES)],
)
def test_both_ways_of_reporting_times_give_the_same_frames(clips, name, mode):
    settings = Settings(decode_mode=mode)
    piped, piped_pixels, piped_state = _decode(clips[name], dec.TIMES_PIPE, settings)
    logged, logged_pixels, logged_state = _decode(clips[name], dec.TIMES_SHOWINFO, settings)
    assert piped == pytest.approx(logged, abs=1e-5)  # showinfo prints 6 significant digits
    assert piped_pixels == logged_pixels
    assert piped_state.info == logged_state.info and piped_state.warnings == logged_state.warnings == []


def _grid_times(times: list[float], rate: float) -> list[float]:
    """The first of `times` in each 1/rate bucket: what the select filter keeps."""
    kept: list[float] = []
    for t in times:
        if not kept or math.floor(t * rate) > math.floor(kept[-1] * rate):
            kept.append(t)
    return kept


def test_variable_frame_rate_times_are_the_real_ones(clips):
    # 25 frames at 25 fps, then 5 fps from 1 s on
    times, _, _ = _decode(clips["vfr.mp4"], dec.TIMES_PIPE)
    source = [n / 25 for n in range(25)] + [1 + n / 5 for n in range(15)]
    assert times == pytest.approx(_grid_times(source, Settings().sample_fps), abs=1e-6)


def test_irregular_times_keep_their_milliseconds(clips):
    times, _, _ = _decode(clips["jitter.mkv"], dec.TIMES_PIPE)
    source = [(10 * n + 4 * (n % 3)) / 1000 for n in range(200)]
    assert times == pytest.approx(_grid_times(source, Settings().sample_fps), abs=1e-9)


@pytest.mark.parametrize("name", ["offset.mp4", "trimmed.mp4", "raw.h264"])
def test_times_start_at_zero_whatever_the_container_says(clips, name):
    times, _, _ = _decode(clips[name], dec.TIMES_PIPE)
    assert times[0] == pytest.approx(0.0, abs=1e-6)
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[1] == pytest.approx(0.08, abs=1e-6)  # 25 fps sampled at 15 fps: every other frame at first


def test_a_one_frame_clip_yields_its_frame(clips):
    times, pixels, state = _decode(clips["one_frame.mp4"], dec.TIMES_PIPE)
    assert times == [0.0] and len(pixels) == 1 and state.warnings == []


def test_frames_and_times_stay_in_step_on_a_long_run(clips):
    # more frames than the stdout pipe holds: a times line not flushed before its frame would
    # leave the reader waiting and ffmpeg blocked until the timeout
    settings = Settings(decode_timeout_s=60)
    times, _, state = _decode(clips["jitter.mkv"], dec.TIMES_PIPE, settings, sample_fps=100.0)
    assert len(times) > 100 and state.warnings == [] and times == sorted(times)


def test_the_frame_size_is_known_when_the_first_frame_arrives(tmp_path, monkeypatch):
    # The input's description is read from stderr by another thread: slow it down, and the first
    # frame must still wait for it (fingerprinting reads the display aspect right then).
    import time

    parse = dec._parse_header_line

    def slow(line, info):
        if dec._VIDEO_STREAM.search(line):
            time.sleep(0.5)
        parse(line, info)

    monkeypatch.setattr(dec, "_parse_header_line", slow)
    path = tmp_path / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    state = dec.Decoding(path)
    frames = dec.decode(path, Settings(), state)
    next(frames)
    assert (state.info.width, state.info.height) == (320, 180)
    assert state.info.duration_s == pytest.approx(1.0, abs=0.1)
    frames.close()
