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
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from vidtrace.errors import DependencyError, InputError
from vidtrace.settings import Settings

log = logging.getLogger(__name__)

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (.*)")
_SIZE = re.compile(r"(?<![\dx])(\d{1,5})x(\d{1,5})(?![\dx])")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+|nan)")
#: stderr lines worth quoting in an error message
_ERROR_HINT = re.compile(r"error|invalid|does not contain|no such|denied|unsupported|moov atom|matches no streams|not found", re.I)


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


def ffmpeg_command(path: Path, settings: Settings) -> list[str]:
    """The ffmpeg command line that samples, scales and greys `path` onto stdout as raw frames."""
    rate = settings.sample_fps
    side = settings.frame_side_px
    # "file:" + an absolute path: a name starting with a dash or holding a colon is never read
    # as an option or a protocol.
    source = ffmpeg.input("file:" + str(Path(path).absolute()))
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
    return [args[0], "-nostdin", "-hide_banner", "-loglevel", "info", *args[1:]]


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


def _describe_failure(lines: list[str], info: VideoInfo) -> str:
    text = " ".join(lines)
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
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise DependencyError(f"cannot run ffmpeg ({cmd[0]}): {e}") from e

    timestamps: queue.Queue[float] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=40)

    def read_stderr() -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
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
        proc.kill()

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
            proc.kill()
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
    elif returncode != 0:
        reason = _describe_failure(lines, state.info)
        if state.frames_read == 0:
            raise InputError(path, reason)
        state.warnings.append(f"decoded in part: {reason}")
    elif state.frames_read == 0:
        raise InputError(path, "no video stream (audio only?)" if not state.info.has_video else "no frames could be decoded")
    else:
        damage = [ln for ln in lines if _ERROR_HINT.search(ln)]
        if damage:
            state.warnings.append(f"decoded with errors: {_strip_prefix(damage[-1])[:200]}")
