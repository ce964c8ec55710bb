"""Decoding: a video file in, small grey frames with their timestamps out.

ffmpeg (the binary shipped by imageio-ffmpeg unless the user names another) does the decoding,
the sampling and the scaling (`decode_command`), in one `FfmpegProcess` under a memory limit and
a timeout. Each frame keeps its real presentation time, read from a pipe of its own (ffmpeg 7 and
later) or from the `showinfo` filter's lines on stderr (older builds).

A reader thread drains stderr (so ffmpeg never blocks on a full pipe) and parses the stream
header for the video's metadata (no ffprobe needed).
"""

from __future__ import annotations

import collections
import os
import queue
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vidtrace.decode_command import (  # noqa: F401  (re-exported: callers import them from here)
    DECODE_ALL,
    DECODE_KEYFRAMES,
    DECODE_MODES,
    TIMES_PIPE,
    TIMES_SHOWINFO,
    decode_mode,
    ffmpeg_command,
    set_decode_threads,
    times_reporting,
)
from vidtrace.decode_command import parse_times_line as _parse_times_line
from vidtrace.errors import DependencyError, InputError
from vidtrace.ffmpeg_process import (  # noqa: F401  (re-exported: callers import them from here)
    _CHILD_ENV,
    DECODE_MEMORY_MB,
    MIN_DECODE_MEMORY_MB,
    FfmpegProcess,
    decode_memory_mb,
    effective_memory_mb,
    ffmpeg_binary,
)
from vidtrace.ffmpeg_process import NO_MEMORY as _NO_MEMORY
from vidtrace.ffmpeg_process import hard_limit_mb as _hard_limit_mb
from vidtrace.settings import Settings
from vidtrace.spec import FRAME_SIDE_PX, SAMPLE_FPS

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (.*)")
#: "Input #0, png_pipe, from 'file:...':": the demuxer's names
_INPUT_FORMAT = re.compile(r"^Input #0, (.+?), from ")
#: A stream that is a picture attached to the file (an audio file's cover art)
_ATTACHED_PICTURE = re.compile(r"\(attached pic\)\s*$")
#: The input's description (duration, streams, frame size) is over once ffmpeg describes its output.
_HEADER_END = re.compile(r"^(Output #0|Stream mapping:)")
#: How long the first frame waits for the input's description to be read from stderr (s): it is
#: written before any frame, so this is only ever reached when it never comes.
_HEADER_WAIT_S = 10.0
#: How long a frame waits for its time from the showinfo filter's line on stderr (s).
_SHOWINFO_WAIT_S = 30.0
_SIZE = re.compile(r"(?<![\dx])(\d{1,5})x(\d{1,5})(?![\dx])")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+|nan)")
#: What /bin/sh says when it cannot set the memory limit (ffmpeg never ran)
_LIMIT_REFUSED = re.compile(r"\bulimit: .*(error|cannot|not permitted|invalid)", re.I)
#: stderr lines worth quoting in an error message
_ERROR_HINT = re.compile(
    r"error|invalid|does not contain|no such|denied|unsupported|moov atom|matches no streams|not found", re.I
)
#: The last stderr lines kept for an error message (ffmpeg's complaint comes at the end).
_TAIL_LINES = 40
#: An ffmpeg line quoted in a message is cut to this many characters.
QUOTE_CHARS = 200

#: Why an image, or an audio file whose only picture is its cover art, is not stored as a video.
NO_MOVING_PICTURE = "no moving picture (a single image)"


def _memory_limit_mb() -> int:
    """The address-space limit of this run's decodes (MiB, 0: none), within this process's hard limit."""
    return effective_memory_mb(decode_memory_mb(), _hard_limit_mb())


@dataclass
class VideoInfo:
    """What the stream header says about a video. Any field may be unknown (None)."""

    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    has_video: bool = False
    #: the video stream is one picture: an image file, or an audio file's cover art
    still_picture: bool = False


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


def _parse_header_line(line: str, info: VideoInfo) -> None:
    if (m := _INPUT_FORMAT.match(line)) and _is_image_format(m.group(1)):
        info.still_picture = True
    elif info.duration_s is None and (m := _DURATION.search(line)):
        h, mnt, s = m.groups()
        info.duration_s = int(h) * 3600 + int(mnt) * 60 + float(s)
    elif not info.has_video and (m := _VIDEO_STREAM.search(line)):
        info.has_video = True
        details = m.group(1)
        if _ATTACHED_PICTURE.search(details):
            info.still_picture = True
        if size := _SIZE.search(details):
            info.width, info.height = int(size.group(1)), int(size.group(2))
        if fps := _FPS.search(details):
            info.fps = float(fps.group(1)) * (1000 if fps.group(2) else 1)


def _is_image_format(names: str) -> bool:
    """Whether ffmpeg read the input with an image demuxer (image2, png_pipe, jpeg_pipe, ...)."""
    return any(n.strip() in ("image2", "image2pipe") or n.strip().endswith("_pipe") for n in names.split(","))


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
    return f"ffmpeg failed: {_quote(detail)}"


def _quote(line: str) -> str:
    """An ffmpeg line as quoted in a message: without its prefix, cut to `QUOTE_CHARS`."""
    return _strip_prefix(line)[:QUOTE_CHARS]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _StderrLog:
    """What ffmpeg says on stderr during a decode: the input's description (parsed into `info`),
    the showinfo filter's frame times when they come that way, and the last lines for messages."""

    def __init__(self, info: VideoInfo, showinfo: bool) -> None:
        self.info = info
        self.showinfo = showinfo
        self.times: queue.Queue[float] = queue.Queue()
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.header_read = threading.Event()  # `info` is complete: the frames may be handed out

    def line(self, line: str) -> None:
        if self.showinfo and (m := _SHOWINFO.search(line)):
            value = m.group(1)
            self.times.put(float("nan") if value == "nan" else float(value))
            return
        if not self.header_read.is_set():
            _parse_header_line(line, self.info)
            if _HEADER_END.match(line):
                self.header_read.set()
        self.tail.append(line)

    def end(self) -> None:
        self.header_read.set()


def decode(
    path: Path, settings: Settings, state: Decoding | None = None, *, sample_fps: float = SAMPLE_FPS,
    side_px: int = FRAME_SIDE_PX,
) -> Iterator[DecodedFrame]:  # fmt: skip
    """Yield the sampled frames of `path`, each with its timestamp in seconds. Fingerprints are
    made of frames at the specification's rate and size (the defaults); other values serve
    measurements only.

    Raises InputError when nothing could be decoded. A file that decodes in part (truncated,
    corrupted in the middle) yields what decodes and gets a warning in `state.warnings`.
    """
    path = Path(path)
    state = state if state is not None else Decoding(path)
    times = times_reporting(settings)
    memory_mb = _memory_limit_mb()
    process, times_file = _start(path, settings, times, memory_mb, sample_fps, side_px)
    stderr = _StderrLog(state.info, showinfo=times == TIMES_SHOWINFO)
    process.watch_stderr(stderr.line, stderr.end)
    try:
        yield from _frames(process, times_file, stderr, state, side_px, 1.0 / sample_fps)
        returncode = process.wait()
    finally:
        process.close()
        if times_file is not None:
            times_file.close()
    _check_outcome(path, state, list(stderr.tail), returncode, process, settings.decode_timeout_s)


def _start(
    path: Path, settings: Settings, times: str, memory_mb: int, sample_fps: float, side_px: int
) -> tuple[FfmpegProcess, BinaryIO | None]:  # fmt: skip
    """ffmpeg decoding `path`, and the pipe it writes the frame times to (None: they come on stderr)."""
    times_read, times_write = os.pipe() if times == TIMES_PIPE else (-1, -1)
    try:
        cmd = ffmpeg_command(path, settings, times, times_write, sample_fps=sample_fps, side_px=side_px)
        try:
            process = FfmpegProcess(cmd, memory_mb, settings.decode_timeout_s,
                                    pass_fds=(times_write,) if times_write >= 0 else ())  # fmt: skip
        except OSError as e:
            raise DependencyError(f"cannot run ffmpeg ({cmd[0]}): {e}") from e
    except BaseException:
        if times_read >= 0:
            os.close(times_read)
        raise
    finally:
        if times_write >= 0:
            os.close(times_write)  # ffmpeg holds the only write end: its exit ends the pipe
    return process, (os.fdopen(times_read, "rb") if times_read >= 0 else None)


def _frames(
    process: FfmpegProcess, times_file: BinaryIO | None, stderr: _StderrLog, state: Decoding, side_px: int,
    interval_s: float,
) -> Iterator[DecodedFrame]:  # fmt: skip
    """The frames on ffmpeg's stdout with their times, until either runs out."""
    frame_bytes = side_px * side_px
    index = 0
    last_ts = -1.0
    bases: dict[bytes, tuple[int, int]] = {}
    while True:
        chunk = process.read(frame_bytes)
        if len(chunk) < frame_bytes:
            return
        if times_file is not None:
            # Written and flushed before the frame: never waits on ffmpeg.
            line = times_file.readline()
            if not line:
                return
            ts = _parse_times_line(line, bases)
        else:
            try:
                ts = stderr.times.get(timeout=_SHOWINFO_WAIT_S)
            except queue.Empty:
                return
        if ts != ts:  # nan: no usable time; derive from the sampling grid
            ts = last_ts + interval_s if last_ts >= 0 else 0.0
        last_ts = ts
        pixels = np.frombuffer(chunk, dtype=np.uint8).reshape(side_px, side_px)
        if index == 0:
            # The frame size and duration in state.info come from stderr, read by another
            # thread: callers read them once the first frame is here.
            stderr.header_read.wait(_HEADER_WAIT_S)
        state.frames_read += 1
        yield DecodedFrame(pixels=pixels, index=index, ts_s=ts)
        index += 1


def _check_outcome(
    path: Path, state: Decoding, lines: list[str], returncode: int, process: FfmpegProcess, timeout_s: float
) -> None:  # fmt: skip
    """Raise when the decode gave nothing (InputError; DependencyError when ffmpeg could not even
    start under the memory limit); note in `state.warnings` what went wrong after some frames."""
    memory_mb = process.memory_mb
    out_of_memory = process.out_of_memory.is_set()
    refused = next((ln for ln in lines if _LIMIT_REFUSED.search(ln)), None)
    if refused is not None and state.frames_read == 0:
        raise DependencyError(f"cannot run ffmpeg under the {memory_mb} MiB memory limit: {_quote(refused)}")
    if process.timed_out.is_set():
        message = f"decoding took longer than {timeout_s:g} s and was stopped"
        if state.frames_read == 0:
            raise InputError(path, message)
        state.warnings.append(message + "; kept the frames decoded before")
    elif returncode != 0 or out_of_memory:
        reason = _describe_failure(lines, state.info, -signal.SIGKILL if out_of_memory else returncode, memory_mb)
        if state.frames_read == 0:
            raise InputError(path, reason)
        state.warnings.append(f"decoded in part: {reason}")
    elif state.frames_read == 0:
        raise InputError(
            path, "no video stream (audio only?)" if not state.info.has_video else "no frames could be decoded"
        )
    elif state.frames_read == 1 and state.info.still_picture:
        raise InputError(path, NO_MOVING_PICTURE)
    else:
        damage = [ln for ln in lines if _ERROR_HINT.search(ln)]
        if damage:
            state.warnings.append(f"decoded with errors: {_quote(damage[-1])}")
