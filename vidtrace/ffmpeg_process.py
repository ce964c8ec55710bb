"""One ffmpeg process: found, started under a memory limit, watched, read and killed.

Every ffmpeg vidtrace runs (decoding, sound prints, thumbnails, feature probes) is an
`FfmpegProcess`: it starts in a session of its own (so killing it also kills anything it
started), under an address-space limit the kernel enforces (a hostile file declaring a huge frame
is refused memory instead of exhausting the machine), and is killed once it outlives its time or,
while its stderr is watched, once ffmpeg reports that memory was refused.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import threading
from collections.abc import Callable

from vidtrace.errors import DependencyError
from vidtrace.settings import DECODE_MEMORY_MB, Settings

#: glibc reserves 64 MiB of address space per malloc arena (one per thread by default), which
#: counts against the limit without being used; two arenas keep ffmpeg's footprint honest.
_CHILD_ENV = {"MALLOC_ARENA_MAX": "2"}
#: Below this address-space limit (MiB) ffmpeg cannot decode even a small clip (the bundled
#: static binary maps about 100 MiB before reading a byte); a process held under a lower hard
#: limit is an environment fault, not a bad file.
MIN_DECODE_MEMORY_MB = 256
#: stderr text ffmpeg prints when an allocation (or a thread) is refused by the memory limit
NO_MEMORY = re.compile(r"cannot allocate memory|out of memory|resource temporarily unavailable", re.I)
#: How long closing waits for the thread reading stderr to finish (s): ffmpeg has exited by then,
#: so only a process it started and that escaped the kill could hold the pipe open longer.
_READER_JOIN_S = 5.0


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


def decode_memory_mb() -> int:
    """The ffmpeg address-space limit in MiB (0: unlimited), from the environment or the default."""
    text = os.environ.get("VIDTRACE_DECODE_MEMORY_MB", "").strip()
    if not text:
        return DECODE_MEMORY_MB
    try:
        return max(0, int(float(text)))
    except ValueError as e:
        raise DependencyError(f"VIDTRACE_DECODE_MEMORY_MB={text!r} is not a number") from e


def hard_limit_mb() -> int | None:
    """This process's hard address-space limit (MiB), which no child can raise; None: unlimited."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if hard == resource.RLIM_INFINITY else hard // (1024 * 1024)


def effective_memory_mb(memory_mb: int, hard_mb: int | None) -> int:
    """The limit ffmpeg runs under: `memory_mb`, or this process's hard limit `hard_mb` (see
    `hard_limit_mb`) when that is lower (a child can lower a limit, never raise it past the hard
    one). 0: no limit.

    Raises DependencyError when the hard limit leaves ffmpeg too little to decode anything.
    """
    if hard_mb is None:
        return memory_mb
    if hard_mb < MIN_DECODE_MEMORY_MB:
        raise DependencyError(
            f"this process may use at most {hard_mb} MiB of address space (ulimit -v); decoding needs at least "
            f"{MIN_DECODE_MEMORY_MB} MiB: raise the limit"
        )
    return min(memory_mb, hard_mb) if memory_mb else 0


def _under_memory_limit(cmd: list[str], memory_mb: int) -> list[str]:
    """`cmd` run with its address space capped (the kernel enforces it): /bin/sh sets the limit and
    execs the command in its own process. A pre-exec hook would do the same but make Python fork
    (copy its memory map, then fault on every page it writes) instead of vfork: about 8 ms of CPU
    per file in a process holding numpy, SciPy and OpenCV, more in a bigger one.

    The limit is never above this process's hard limit, which the shell could not set; ffmpeg
    then already runs under the hard limit."""
    if not memory_mb:
        return cmd
    hard = hard_limit_mb()
    if hard is not None and memory_mb >= hard:
        return cmd
    return ["/bin/sh", "-c", f'ulimit -v {memory_mb * 1024} && exec "$0" "$@"', *cmd]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process and anything it started (it runs in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


class FfmpegProcess:
    """One running ffmpeg, its stdout and stderr piped (or `subprocess.DEVNULL`).

    `memory_mb` caps its address space (0: no limit); after `timeout_s` (None: never) it is killed
    and `timed_out` is set. `watch_stderr` reads stderr line by line in a thread of its own (so
    ffmpeg never blocks on a full pipe) and kills ffmpeg as soon as it reports refused memory
    (some decoders retry the same packet forever), setting `out_of_memory`. `close` (or leaving a
    `with` block) kills what still runs and releases the pipes.

    Raises OSError when ffmpeg cannot be started.
    """

    def __init__(
        self, cmd: list[str], memory_mb: int = 0, timeout_s: float | None = None, *, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, pass_fds: tuple[int, ...] = (),
    ) -> None:  # fmt: skip
        if not os.access(cmd[0], os.X_OK):  # /bin/sh would only report it as a failed run
            raise OSError(f"{cmd[0]} is not an executable file")
        self.cmd = cmd
        self.memory_mb = memory_mb
        self.timed_out = threading.Event()
        self.out_of_memory = threading.Event()
        self._reader: threading.Thread | None = None
        self.proc = subprocess.Popen(
            _under_memory_limit(cmd, memory_mb), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            env={**os.environ, **_CHILD_ENV}, start_new_session=True, pass_fds=pass_fds,
        )  # fmt: skip
        self._watchdog: threading.Timer | None = None
        if timeout_s is not None:
            self._watchdog = threading.Timer(timeout_s, self._time_out)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _time_out(self) -> None:
        self.timed_out.set()
        self.kill()

    def kill(self) -> None:
        """Kill ffmpeg and anything it started."""
        kill_group(self.proc)

    def watch_stderr(self, on_line: Callable[[str], None], on_end: Callable[[], None] | None = None) -> None:
        """Read stderr in a thread: each line (decoded, right-stripped) goes to `on_line`, after the
        memory check; `on_end` runs once stderr is over."""
        stderr = self.proc.stderr
        if stderr is None:
            raise ValueError("watch_stderr needs ffmpeg's stderr piped")

        def read() -> None:
            try:
                for raw in stderr:
                    line = raw.decode("utf-8", "replace").rstrip()
                    if self.memory_mb and not self.out_of_memory.is_set() and NO_MEMORY.search(line):
                        self.out_of_memory.set()
                        self.kill()
                    on_line(line)
            finally:
                if on_end is not None:
                    on_end()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def read(self, size: int) -> bytes:
        """Up to `size` bytes of stdout (fewer only at its end)."""
        assert self.proc.stdout is not None, "ffmpeg's stdout is piped to be read"
        return self.proc.stdout.read(size)

    def communicate(self) -> tuple[bytes, bytes]:
        """All of stdout and stderr (empty when not piped), once ffmpeg has exited (or was killed)."""
        out, err = self.proc.communicate()
        return out or b"", err or b""

    def wait(self) -> int:
        return self.proc.wait()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def close(self) -> None:
        """Stop the clock, kill ffmpeg if it still runs, wait for it, release the pipes."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=_READER_JOIN_S)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> FfmpegProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
