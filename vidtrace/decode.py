"""Decoding: a video file in, small grey frames with their timestamps out.

ffmpeg (the binary shipped by imageio-ffmpeg unless the user names another) does the decoding,
the sampling and the scaling, so Python only ever holds one small grey frame at a time. The
`showinfo` filter reports each sampled frame's real presentation time on stderr; a reader thread
drains stderr (so ffmpeg never blocks on a full pipe), parses the stream header for the video's
metadata (no ffprobe needed) and hands timestamps to the generator.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import re
import resource
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from vidtrace.errors import DependencyError, InputError, UsageError
from vidtrace.settings import Settings

log = logging.getLogger(__name__)

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (.*)")
_SIZE = re.compile(r"(?<![\dx])(\d{1,5})x(\d{1,5})(?![\dx])")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+|nan)")
#: stderr lines worth quoting in an error message
#: stderr text ffmpeg prints when an allocation (or a thread) is refused by the memory limit
_NO_MEMORY = re.compile(r"cannot allocate memory|out of memory|resource temporarily unavailable", re.I)
_ERROR_HINT = re.compile(r"error|invalid|does not contain|no such|denied|unsupported|moov atom|matches no streams|not found", re.I)


#: Address space one ffmpeg process may use (MiB): a hostile file declaring a huge frame size
#: (8000x8000 and more) is refused instead of exhausting the machine. A 8000x8000 H.264 frame
#: decodes in well under 1 GiB. Override with VIDTRACE_DECODE_MEMORY_MB (0: no limit).
DECODE_MEMORY_MB = 2048
#: glibc reserves 64 MiB of address space per malloc arena (one per thread by default), which
#: counts against the limit without being used; two arenas keep ffmpeg's footprint honest.
_CHILD_ENV = {"MALLOC_ARENA_MAX": "2"}


def decode_memory_mb() -> int:
    """The ffmpeg address-space limit in MiB (0: unlimited), from the environment or the default."""
    text = os.environ.get("VIDTRACE_DECODE_MEMORY_MB", "").strip()
    if not text:
        return DECODE_MEMORY_MB
    try:
        return max(0, int(float(text)))
    except ValueError as e:
        raise DependencyError(f"VIDTRACE_DECODE_MEMORY_MB={text!r} is not a number") from e


def _limit_child(memory_mb: int):
    """A pre-exec hook for the ffmpeg child: cap its address space (the kernel enforces it)."""

    def apply() -> None:
        if memory_mb:
            limit = memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


@dataclass
class VideoInfo:
    """What the stream header says about a video. Any field may be unknown (None)."""

    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    has_video: bool = False


@dataclass
class DecodedFrame:
    pixels: np.ndarray  # (side, side) uint8 grey
    index: int
    ts_s: float


@dataclass
class Decoding:
    """The state of one decode: metadata and warnings fill in as ffmpeg reports them."""

    path: Path
    info: VideoInfo = field(default_factory=VideoInfo)
    warnings: list[str] = field(default_factory=list)
    frames_read: int = 0


def ffmpeg_binary(settings: Settings) -> str:
    """The ffmpeg executable: the one named in settings, else the one imageio-ffmpeg ships."""
    if settings.ffmpeg_binary:
        if not os.access(settings.ffmpeg_binary, os.X_OK):
            raise DependencyError(f"ffmpeg binary {settings.ffmpeg_binary!r} is not an executable file")
        return settings.ffmpeg_binary
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # imageio-ffmpeg raises RuntimeError when its binary is missing
        raise DependencyError(f"no ffmpeg binary: install imageio-ffmpeg or set VIDTRACE_FFMPEG_BINARY ({e})") from e


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


def ffmpeg_command(path: Path, settings: Settings) -> list[str]:
    """The ffmpeg command line that samples, scales and greys `path` onto stdout as raw frames."""
    rate = settings.sample_fps
    side = settings.frame_side_px
    # "file:" + an absolute path: a name starting with a dash or holding a colon is never read
    # as an option or a protocol.
    # The name goes in after compiling: ffmpeg-python cannot hold names that are not UTF-8, and
    # the argument list never passes through a shell.
    input_options = {}
    if decode_mode(settings) == DECODE_KEYFRAMES:
        input_options["skip_frame"] = "nokey"
    if _decode_threads:
        input_options["threads"] = _decode_threads
    source = ffmpeg.input(_INPUT_PLACEHOLDER, **input_options)
    # One frame per 1/rate bucket of presentation time, always including the first frame (a
    # one-frame clip still yields a frame, which an fps filter would not), with real timestamps.
    select = f"isnan(prev_selected_t)+gt(floor(t*{rate}),floor(prev_selected_t*{rate}))"
    graph = (
        source.video.filter("select", select)
        .filter("scale", side, side, flags="area")
        .filter("format", "gray")
        .filter("showinfo")
    )
    out = ffmpeg.output(graph, "pipe:", format="rawvideo", pix_fmt="gray", fps_mode="passthrough")
    args = out.compile(cmd=ffmpeg_binary(settings))
    args[args.index(_INPUT_PLACEHOLDER)] = "file:" + os.fspath(Path(path).absolute())
    threads = ["-filter_threads", str(_decode_threads)] if _decode_threads else []
    return [args[0], "-nostdin", "-hide_banner", "-loglevel", "info", *threads, *args[1:]]


def _parse_header_line(line: str, info: VideoInfo) -> None:
    if info.duration_s is None and (m := _DURATION.search(line)):
        h, mnt, s = m.groups()
        info.duration_s = int(h) * 3600 + int(mnt) * 60 + float(s)
    elif not info.has_video and (m := _VIDEO_STREAM.search(line)):
        info.has_video = True
        details = m.group(1)
        if size := _SIZE.search(details):
            info.width, info.height = int(size.group(1)), int(size.group(2))
        if fps := _FPS.search(details):
            info.fps = float(fps.group(1)) * (1000 if fps.group(2) else 1)


def _strip_prefix(line: str) -> str:
    """Drop ffmpeg's "[component @ 0x...]" prefix and any echo of the input's name."""
    line = re.sub(r"^\[[^\]]*\]\s*", "", line).strip()
    return re.sub(r"^file:.*?: ", "", line)


def _describe_failure(lines: list[str], info: VideoInfo, returncode: int, memory_mb: int) -> str:
    text = " ".join(lines)
    if memory_mb and (returncode < 0 or _NO_MEMORY.search(text)):
        size = f" ({info.width}x{info.height})" if info.width and info.height else ""
        return f"decoding needs more than the {memory_mb} MiB memory limit{size}; ffmpeg was stopped"
    if returncode < 0:
        return f"ffmpeg was killed by signal {_signal_name(-returncode)}"
    if "Invalid data found when processing input" in text or "moov atom not found" in text:
        return "not a readable video (ffmpeg: invalid data)"
    if not info.has_video and info.duration_s is not None:
        return "no video stream (audio only?)"
    if "matches no streams" in text or "does not contain any stream" in text:
        return "no video stream"
    hints = [ln for ln in lines if _ERROR_HINT.search(ln)]
    detail = (hints or lines or ["no output"])[-1]
    detail = _strip_prefix(detail)
    return f"ffmpeg failed: {detail[:200]}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _kill(proc: subprocess.Popen) -> None:
    """Kill ffmpeg and anything it started (it runs in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def decode(path: Path, settings: Settings, state: Decoding | None = None) -> Iterator[DecodedFrame]:
    """Yield the sampled frames of `path`, each with its timestamp in seconds.

    Raises InputError when nothing could be decoded. A file that decodes in part (truncated,
    corrupted in the middle) yields what decodes and gets a warning in `state.warnings`.
    """
    path = Path(path)
    state = state if state is not None else Decoding(path)
    side = settings.frame_side_px
    frame_bytes = side * side
    cmd = ffmpeg_command(path, settings)
    memory_mb = decode_memory_mb()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **_CHILD_ENV}, preexec_fn=_limit_child(memory_mb), start_new_session=True,
        )  # fmt: skip
    except OSError as e:
        raise DependencyError(f"cannot run ffmpeg ({cmd[0]}): {e}") from e

    timestamps: queue.Queue[float] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=40)

    out_of_memory = threading.Event()

    def read_stderr() -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if memory_mb and not out_of_memory.is_set() and _NO_MEMORY.search(line):
                # Refused memory: some decoders retry the same packet forever. Stop now.
                out_of_memory.set()
                _kill(proc)
            if m := _SHOWINFO.search(line):
                value = m.group(1)
                timestamps.put(float("nan") if value == "nan" else float(value))
            else:
                _parse_header_line(line, state.info)
                tail.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        _kill(proc)

    watchdog = threading.Timer(settings.decode_timeout_s, kill_on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        index = 0
        last_ts = -1.0
        while True:
            chunk = proc.stdout.read(frame_bytes)
            if len(chunk) < frame_bytes:
                break
            try:
                ts = timestamps.get(timeout=30)
            except queue.Empty:
                break
            if ts != ts:  # nan: no usable time; derive from the sampling grid
                ts = last_ts + settings.sample_interval_s if last_ts >= 0 else 0.0
            last_ts = ts
            pixels = np.frombuffer(chunk, dtype=np.uint8).reshape(side, side)
            state.frames_read += 1
            yield DecodedFrame(pixels=pixels, index=index, ts_s=ts)
            index += 1
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            _kill(proc)
            proc.wait()
        proc.stdout.close()
        reader.join(timeout=5)
        proc.stderr.close()

    lines = list(tail)
    if timed_out.is_set():
        message = f"decoding took longer than {settings.decode_timeout_s:g} s and was stopped"
        if state.frames_read == 0:
            raise InputError(path, message)
        state.warnings.append(message + "; kept the frames decoded before")
    elif returncode != 0 or out_of_memory.is_set():
        reason = _describe_failure(lines, state.info, -9 if out_of_memory.is_set() else returncode, memory_mb)
        if state.frames_read == 0:
            raise InputError(path, reason)
        state.warnings.append(f"decoded in part: {reason}")
    elif state.frames_read == 0:
        raise InputError(path, "no video stream (audio only?)" if not state.info.has_video else "no frames could be decoded")
    else:
        damage = [ln for ln in lines if _ERROR_HINT.search(ln)]
        if damage:
            state.warnings.append(f"decoded with errors: {_strip_prefix(damage[-1])[:200]}")
