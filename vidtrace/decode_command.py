"""The ffmpeg command line that samples a video's frames, and how it reports each frame's time.

ffmpeg samples, scales and greys the frames (`ffmpeg_command`), so Python only ever holds a few
small grey frames at a time. Each sampled frame keeps its real presentation time: ffmpeg 7 and
later write it, one short line per frame (`-stats_enc_pre`, the frame's pts in the filter graph's
time base), to a pipe of its own that the decoder reads in step with the frames; the line is
written and flushed before the frame. Older ffmpeg builds (found by a one-off probe per binary,
`times_reporting`) get the `showinfo` filter instead, whose per-frame report on stderr costs
ffmpeg several log lines per frame and Python a regular expression and a queue hand-over per frame.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from pathlib import Path

import ffmpeg

from vidtrace.errors import UsageError
from vidtrace.ffmpeg_process import FfmpegProcess, decode_memory_mb, effective_memory_mb, ffmpeg_binary, hard_limit_mb
from vidtrace.settings import Settings
from vidtrace.spec import FRAME_SIDE_PX, SAMPLE_FPS

log = logging.getLogger(__name__)

_INPUT_PLACEHOLDER = "vidtrace-input-placeholder"

#: Decode modes (`Settings.decode_mode`): every frame, or only the codec's key frames
#: (`-skip_frame nokey`: the decoder skips everything else, several times faster, but the
#: samples fall wherever the encoder put key frames; recall measured in benchmarks/robustness.py).
DECODE_ALL = "all"
DECODE_KEYFRAMES = "keyframes"
DECODE_MODES = (DECODE_ALL, DECODE_KEYFRAMES)
#: Threads each ffmpeg may use; None lets ffmpeg choose (one per core). A process pool of N
#: workers sets 1, so N decodes share the cores instead of each spawning a thread per core.
_decode_threads: int | None = None


def set_decode_threads(threads: int | None) -> None:
    """Threads per ffmpeg process in this process (a worker pool's initializer sets 1)."""
    global _decode_threads
    _decode_threads = threads


def decode_mode(settings: Settings) -> str:
    mode = str(getattr(settings, "decode_mode", DECODE_ALL) or DECODE_ALL).strip().lower()
    if mode not in DECODE_MODES:
        raise UsageError(f"decode mode {mode!r} is not one of {', '.join(DECODE_MODES)}")
    return mode


#: How ffmpeg reports each frame's presentation time (see the module's docstring).
TIMES_PIPE = "pipe"  # -stats_enc_pre: one "pts time_base" line per frame on a pipe of its own
TIMES_SHOWINFO = "showinfo"  # the showinfo filter's log lines on stderr (ffmpeg before 7)
#: What ffmpeg writes on the times pipe for each frame, before the frame itself: the frame's pts
#: in the encoder's time base, which `-enc_time_base filter` makes the filter graph's own (the
#: default, 1/frame rate, would round the times of variable-frame-rate video).
_TIMES_FORMAT = "{pts} {tb}"
#: ffmpeg's "no timestamp" (AV_NOPTS_VALUE), as it prints it.
_NO_PTS = -(1 << 63)
#: A probe of an ffmpeg binary's features that takes longer than this counts as a failure (s).
_PROBE_TIMEOUT_S = 20.0


def ffmpeg_command(
    path: Path, settings: Settings, times: str | None = TIMES_SHOWINFO, times_fd: int = 3, *,
    sample_fps: float = SAMPLE_FPS, side_px: int = FRAME_SIDE_PX,
) -> list[str]:  # fmt: skip
    """The ffmpeg command line that samples (`sample_fps`), scales (to `side_px` square) and greys
    `path` onto stdout as raw frames.

    `times` says how each frame's time is reported: `TIMES_PIPE` (written to file descriptor
    `times_fd`, which the caller passes to ffmpeg), `TIMES_SHOWINFO` (on stderr), or None (not at
    all: the decode-only reference of benchmarks/throughput.py).
    """
    rate = sample_fps
    # "file:" + an absolute path: a name starting with a dash or holding a colon is never read
    # as an option or a protocol.
    # The name goes in after compiling: ffmpeg-python cannot hold names that are not UTF-8, and
    # the argument list never passes through a shell.
    input_options: dict[str, str | int] = {}
    if decode_mode(settings) == DECODE_KEYFRAMES:
        input_options["skip_frame"] = "nokey"
    if _decode_threads:
        input_options["threads"] = _decode_threads
    source = ffmpeg.input(_INPUT_PLACEHOLDER, **input_options)
    # One frame per 1/rate bucket of presentation time, always including the first frame (a
    # one-frame clip still yields a frame, which an fps filter would not), with real timestamps.
    select = f"isnan(prev_selected_t)+gt(floor(t*{rate}),floor(prev_selected_t*{rate}))"
    graph = (
        source.video.filter("select", select).filter("scale", side_px, side_px, flags="area").filter("format", "gray")
    )
    output_options = {}
    if times == TIMES_SHOWINFO:
        graph = graph.filter("showinfo")
    elif times == TIMES_PIPE:
        output_options = {
            "enc_time_base": "filter",
            "stats_enc_pre": f"pipe:{times_fd}",
            "stats_enc_pre_fmt": _TIMES_FORMAT,
        }
    elif times is not None:
        raise ValueError(f"unknown way of reporting frame times: {times!r}")
    out = ffmpeg.output(graph, "pipe:", format="rawvideo", pix_fmt="gray", fps_mode="passthrough", **output_options)
    args = out.compile(cmd=ffmpeg_binary(settings))
    args[args.index(_INPUT_PLACEHOLDER)] = "file:" + os.fspath(Path(path).absolute())
    # The graph is a -filter_complex one: -filter_threads alone would not bound its thread pool.
    threads = (
        ["-filter_threads", str(_decode_threads), "-filter_complex_threads", str(_decode_threads)]
        if _decode_threads
        else []
    )
    return [args[0], "-nostdin", "-hide_banner", "-loglevel", "info", *threads, *args[1:]]


def times_reporting(settings: Settings) -> str:
    """How the configured ffmpeg can report frame times: `TIMES_PIPE` when it can, else `TIMES_SHOWINFO`."""
    timeout_s = min(_PROBE_TIMEOUT_S, settings.decode_timeout_s)
    memory_mb = effective_memory_mb(decode_memory_mb(), hard_limit_mb())
    return TIMES_PIPE if _writes_frame_times(ffmpeg_binary(settings), memory_mb, timeout_s) else TIMES_SHOWINFO


@functools.lru_cache(maxsize=16)
def _writes_frame_times(binary: str, memory_mb: int, timeout_s: float) -> bool:
    """Whether `binary` writes each frame's pts in the filter graph's time base with -stats_enc_pre
    (ffmpeg 7 and later): two frames of a generated clip must come out as "0 1/25" and "1 1/25"."""
    cmd = [binary, "-nostdin", "-hide_banner", "-loglevel", "quiet", "-f", "lavfi", "-i", "color=size=16x16:rate=25:duration=0.08",
           "-enc_time_base", "filter", "-stats_enc_pre", "pipe:1", "-stats_enc_pre_fmt", _TIMES_FORMAT, "-f", "null", "-"]  # fmt: skip
    try:
        process = FfmpegProcess(cmd, memory_mb, timeout_s, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    with process:  # a probe that hangs is killed, and whatever it started, which would keep the pipe open
        out, _ = process.communicate()
    if process.timed_out.is_set():
        return False
    supported = process.returncode == 0 and out.split() == [b"0", b"1/25", b"1", b"1/25"]
    log.debug("%s %s per-frame times on a pipe", binary, "writes" if supported else "does not write")
    return supported


def parse_times_line(line: bytes, bases: dict[bytes, tuple[int, int]]) -> float:
    """Seconds from a "pts num/den" line of the times pipe; nan when the frame has no time.
    `bases` caches parsed time bases (one per stream)."""
    try:
        pts_text, base = line.split()
        pts = int(pts_text)
        if base not in bases:
            num_text, den_text = base.split(b"/")
            bases[base] = int(num_text), int(den_text)
    except ValueError:
        return float("nan")
    num, den = bases[base]
    return float("nan") if pts == _NO_PTS or den == 0 else pts * num / den
