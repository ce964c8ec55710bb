"""Decoding: a video file in, small grey frames with their timestamps out.

ffmpeg (the binary shipped by imageio-ffmpeg unless the user names another) does the decoding,
the sampling and the scaling, so Python only ever holds a few small grey frames at a time.

Each sampled frame keeps its real presentation time. ffmpeg 7 and later write it, one short line
per frame (`-stats_enc_pre`, the frame's pts in the filter graph's time base), to a pipe of its
own that the generator reads in step with the frames; the line is written and flushed before the
frame. Older ffmpeg builds (found by a one-off probe per binary) get the `showinfo` filter
instead, whose per-frame report on stderr costs ffmpeg several log lines per frame and Python a
regular expression and a queue hand-over per frame.

A reader thread drains stderr (so ffmpeg never blocks on a full pipe) and parses the stream
header for the video's metadata (no ffprobe needed).
"""

from __future__ import annotations

import collections
import functools
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
#: "Input #0, png_pipe, from 'file:...':": the demuxer's names
_INPUT_FORMAT = re.compile(r"^Input #0, (.+?), from ")
#: A stream that is a picture attached to the file (an audio file's cover art)
_ATTACHED_PICTURE = re.compile(r"\(attached pic\)\s*$")
#: The input's description (duration, streams, frame size) is over once ffmpeg describes its output.
_HEADER_END = re.compile(r"^(Output #0|Stream mapping:)")
#: How long the first frame waits for the input's description to be read from stderr (s): it is
#: written before any frame, so this is only ever reached when it never comes.
_HEADER_WAIT_S = 10.0
_SIZE = re.compile(r"(?<![\dx])(\d{1,5})x(\d{1,5})(?![\dx])")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+|nan)")
#: stderr text ffmpeg prints when an allocation (or a thread) is refused by the memory limit
_NO_MEMORY = re.compile(r"cannot allocate memory|out of memory|resource temporarily unavailable", re.I)
#: What /bin/sh says when it cannot set the memory limit (ffmpeg never ran)
_LIMIT_REFUSED = re.compile(r"\bulimit: .*(error|cannot|not permitted|invalid)", re.I)
#: stderr lines worth quoting in an error message
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


#: Below this address-space limit (MiB) ffmpeg cannot decode even a small clip (the bundled
#: static binary maps about 100 MiB before reading a byte); a process held under a lower hard
#: limit is an environment fault, not a bad file.
MIN_DECODE_MEMORY_MB = 256


def _hard_limit_mb() -> int | None:
    """This process's hard address-space limit (MiB), which no child can raise; None: unlimited."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if hard == resource.RLIM_INFINITY else hard // (1024 * 1024)


def effective_memory_mb(memory_mb: int) -> int:
    """The limit ffmpeg runs under: `memory_mb`, or this process's hard limit when that is lower
    (a child can lower a limit, never raise it past the hard one). 0: no limit.

    Raises DependencyError when the hard limit leaves ffmpeg too little to decode anything.
    """
    hard = _hard_limit_mb()
    if hard is None:
        return memory_mb
    if hard < MIN_DECODE_MEMORY_MB:
        raise DependencyError(
            f"this process may use at most {hard} MiB of address space (ulimit -v); decoding needs at least "
            f"{MIN_DECODE_MEMORY_MB} MiB: raise the limit"
        )
    return min(memory_mb, hard) if memory_mb else 0


def _under_memory_limit(cmd: list[str], memory_mb: int) -> list[str]:
    """`cmd` run with its address space capped (the kernel enforces it): /bin/sh sets the limit and
    execs the command in its own process. A pre-exec hook would do the same but make Python fork
    (copy its memory map, then fault on every page it writes) instead of vfork: about 8 ms of CPU
    per file in a process holding numpy, SciPy and OpenCV, more in a bigger one.

    The limit is never above this process's hard limit, which the shell could not set; ffmpeg
    then already runs under the hard limit."""
    if not memory_mb:
        return cmd
    hard = _hard_limit_mb()
    if hard is not None and memory_mb >= hard:
        return cmd
    return ["/bin/sh", "-c", f'ulimit -v {memory_mb * 1024} && exec "$0" "$@"', *cmd]


def _spawn(cmd: list[str], memory_mb: int, **options) -> subprocess.Popen:
    """Start ffmpeg (in a session of its own, see `_kill`) under the memory limit."""
    if not os.access(cmd[0], os.X_OK):  # /bin/sh would only report it as a failed run
        raise OSError(f"{cmd[0]} is not an executable file")
    return subprocess.Popen(
        _under_memory_limit(cmd, memory_mb), stdin=subprocess.DEVNULL, env={**os.environ, **_CHILD_ENV},
        start_new_session=True, **options,
    )  # fmt: skip


#: Why an image, or an audio file whose only picture is its cover art, is not stored as a video.
NO_MOVING_PICTURE = "no moving picture (a single image)"


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
    path: Path, settings: Settings, times: str | None = TIMES_SHOWINFO, times_fd: int = 3
) -> list[str]:  # fmt: skip
    """The ffmpeg command line that samples, scales and greys `path` onto stdout as raw frames.

    `times` says how each frame's time is reported: `TIMES_PIPE` (written to file descriptor
    `times_fd`, which the caller passes to ffmpeg), `TIMES_SHOWINFO` (on stderr), or None (not at
    all: the decode-only reference of benchmarks/throughput.py).
    """
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
    graph = source.video.filter("select", select).filter("scale", side, side, flags="area").filter("format", "gray")
    output_options = {}
    if times == TIMES_SHOWINFO:
        graph = graph.filter("showinfo")
    elif times == TIMES_PIPE:
        output_options = {"enc_time_base": "filter", "stats_enc_pre": f"pipe:{times_fd}", "stats_enc_pre_fmt": _TIMES_FORMAT}
    elif times is not None:
        raise ValueError(f"unknown way of reporting frame times: {times!r}")
    out = ffmpeg.output(graph, "pipe:", format="rawvideo", pix_fmt="gray", fps_mode="passthrough", **output_options)
    args = out.compile(cmd=ffmpeg_binary(settings))
    args[args.index(_INPUT_PLACEHOLDER)] = "file:" + os.fspath(Path(path).absolute())
    # The graph is a -filter_complex one: -filter_threads alone would not bound its thread pool.
    threads = ["-filter_threads", str(_decode_threads), "-filter_complex_threads", str(_decode_threads)] if _decode_threads else []
    return [args[0], "-nostdin", "-hide_banner", "-loglevel", "info", *threads, *args[1:]]


def times_reporting(settings: Settings) -> str:
    """How the configured ffmpeg can report frame times: `TIMES_PIPE` when it can, else `TIMES_SHOWINFO`."""
    timeout_s = min(_PROBE_TIMEOUT_S, settings.decode_timeout_s)
    memory_mb = effective_memory_mb(decode_memory_mb())
    return TIMES_PIPE if _writes_frame_times(ffmpeg_binary(settings), memory_mb, timeout_s) else TIMES_SHOWINFO


@functools.lru_cache(maxsize=16)
def _writes_frame_times(binary: str, memory_mb: int, timeout_s: float) -> bool:
    """Whether `binary` writes each frame's pts in the filter graph's time base with -stats_enc_pre
    (ffmpeg 7 and later): two frames of a generated clip must come out as "0 1/25" and "1 1/25"."""
    cmd = [binary, "-nostdin", "-hide_banner", "-loglevel", "quiet", "-f", "lavfi", "-i", "color=size=16x16:rate=25:duration=0.08",
           "-enc_time_base", "filter", "-stats_enc_pre", "pipe:1", "-stats_enc_pre_fmt", _TIMES_FORMAT, "-f", "null", "-"]  # fmt: skip
    try:
        proc = _spawn(cmd, memory_mb, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)  # and whatever it started, which would keep the pipe open
        proc.communicate()
        return False
    supported = proc.returncode == 0 and out.split() == [b"0", b"1/25", b"1", b"1/25"]
    log.debug("%s %s per-frame times on a pipe", binary, "writes" if supported else "does not write")
    return supported


def _parse_times_line(line: bytes, bases: dict[bytes, tuple[int, int]]) -> float:
    """Seconds from a "pts num/den" line of the times pipe; nan when the frame has no time.
    `bases` caches parsed time bases (one per stream)."""
    try:
        pts_text, base = line.split()
        pts = int(pts_text)
        if base not in bases:
            num, den = base.split(b"/")
            bases[base] = int(num), int(den)
    except ValueError:
        return float("nan")
    num, den = bases[base]
    return float("nan") if pts == _NO_PTS or den == 0 else pts * num / den


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


def start_watchdog(proc: subprocess.Popen, timeout_s: float) -> tuple[threading.Timer, threading.Event]:
    """Kill `proc` (and what it started) once `timeout_s` have passed; the event tells whether it
    came to that. Cancel the timer when the process is done."""
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        _kill(proc)

    watchdog = threading.Timer(timeout_s, kill_on_timeout)
    watchdog.daemon = True
    watchdog.start()
    return watchdog, timed_out


def decode(path: Path, settings: Settings, state: Decoding | None = None) -> Iterator[DecodedFrame]:
    """Yield the sampled frames of `path`, each with its timestamp in seconds.

    Raises InputError when nothing could be decoded. A file that decodes in part (truncated,
    corrupted in the middle) yields what decodes and gets a warning in `state.warnings`.
    """
    path = Path(path)
    state = state if state is not None else Decoding(path)
    side = settings.frame_side_px
    frame_bytes = side * side
    times = times_reporting(settings)
    memory_mb = effective_memory_mb(decode_memory_mb())
    times_read, times_write = os.pipe() if times == TIMES_PIPE else (-1, -1)
    try:
        cmd = ffmpeg_command(path, settings, times, times_write)
        try:
            proc = _spawn(cmd, memory_mb, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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
    times_file = os.fdopen(times_read, "rb") if times_read >= 0 else None

    showinfo_times: queue.Queue[float] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=40)

    out_of_memory = threading.Event()
    header_read = threading.Event()  # state.info is complete: the frames may be handed out

    def read_stderr() -> None:
        try:
            _read_stderr()
        finally:
            header_read.set()

    def _read_stderr() -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if memory_mb and not out_of_memory.is_set() and _NO_MEMORY.search(line):
                # Refused memory: some decoders retry the same packet forever. Stop now.
                out_of_memory.set()
                _kill(proc)
            if times == TIMES_SHOWINFO and (m := _SHOWINFO.search(line)):
                value = m.group(1)
                showinfo_times.put(float("nan") if value == "nan" else float(value))
            else:
                if not header_read.is_set():
                    _parse_header_line(line, state.info)
                    if _HEADER_END.match(line):
                        header_read.set()
                tail.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    watchdog, timed_out = start_watchdog(proc, settings.decode_timeout_s)
    try:
        index = 0
        last_ts = -1.0
        bases: dict[bytes, tuple[int, int]] = {}
        while True:
            chunk = proc.stdout.read(frame_bytes)
            if len(chunk) < frame_bytes:
                break
            if times_file is not None:
                # Written and flushed before the frame: never waits on ffmpeg.
                line = times_file.readline()
                if not line:
                    break
                ts = _parse_times_line(line, bases)
            else:
                try:
                    ts = showinfo_times.get(timeout=30)
                except queue.Empty:
                    break
            if ts != ts:  # nan: no usable time; derive from the sampling grid
                ts = last_ts + settings.sample_interval_s if last_ts >= 0 else 0.0
            last_ts = ts
            pixels = np.frombuffer(chunk, dtype=np.uint8).reshape(side, side)
            if index == 0:
                # The frame size and duration in state.info come from stderr, read by another
                # thread: callers read them once the first frame is here.
                header_read.wait(_HEADER_WAIT_S)
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
        if times_file is not None:
            times_file.close()
        reader.join(timeout=5)
        proc.stderr.close()

    lines = list(tail)
    refused = next((ln for ln in lines if _LIMIT_REFUSED.search(ln)), None)
    if refused is not None and state.frames_read == 0:
        raise DependencyError(f"cannot run ffmpeg under the {memory_mb} MiB memory limit: {_strip_prefix(refused)[:200]}")
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
    elif state.frames_read == 1 and state.info.still_picture:
        raise InputError(path, NO_MOVING_PICTURE)
    else:
        damage = [ln for ln in lines if _ERROR_HINT.search(ln)]
        if damage:
            state.warnings.append(f"decoded with errors: {_strip_prefix(damage[-1])[:200]}")
