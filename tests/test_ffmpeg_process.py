"""One ffmpeg process: memory limit, timeout, refused memory, and the kill of what it started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vidtrace.errors import DependencyError
from vidtrace.ffmpeg_process import MIN_DECODE_MEMORY_MB, FfmpegProcess, effective_memory_mb


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-ffmpeg"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_output_and_exit_status_come_through(tmp_path):
    with FfmpegProcess([fake_ffmpeg(tmp_path, "printf frames; echo complaint >&2; exit 3")]) as process:
        out, err = process.communicate()
    assert (out, err, process.returncode) == (b"frames", b"complaint\n", 3)
    assert not process.timed_out.is_set() and not process.out_of_memory.is_set()


def test_a_stream_not_piped_reads_as_empty(tmp_path):
    with FfmpegProcess([fake_ffmpeg(tmp_path, "printf frames; echo complaint >&2")], stderr=subprocess.DEVNULL) as p:
        assert p.communicate() == (b"frames", b"")
        with pytest.raises(ValueError, match="stderr piped"):
            p.watch_stderr(print)


def test_the_memory_limit_is_set_in_kib(tmp_path):
    with FfmpegProcess([fake_ffmpeg(tmp_path, "ulimit -v")], memory_mb=1024) as process:
        out, _ = process.communicate()
    assert int(out) == 1024 * 1024


def test_a_process_over_its_time_is_killed_with_what_it_started(tmp_path):
    # the child keeps stdout open: killing only the shell would leave the read blocked
    with FfmpegProcess([fake_ffmpeg(tmp_path, "sleep 300 & sleep 300\nwait")], timeout_s=0.5) as process:
        out, _ = process.communicate()
    assert process.timed_out.is_set() and process.returncode < 0 and out == b""


def test_refused_memory_on_stderr_stops_the_process_at_once(tmp_path):
    lines: list[str] = []
    script = fake_ffmpeg(tmp_path, "echo 'Error: Cannot allocate memory' >&2; sleep 300 & sleep 300\nwait")
    with FfmpegProcess([script], memory_mb=1024, timeout_s=60) as process:
        process.watch_stderr(lines.append)
        returncode = process.wait()
    assert process.out_of_memory.is_set() and not process.timed_out.is_set() and returncode < 0
    assert lines == ["Error: Cannot allocate memory"]


def test_a_missing_binary_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        FfmpegProcess([str(tmp_path / "no-ffmpeg")])


def test_the_limit_stays_under_the_hard_limit():
    assert effective_memory_mb(2048, None) == 2048
    assert effective_memory_mb(2048, 1024) == 1024
    assert effective_memory_mb(0, 1024) == 0
    with pytest.raises(DependencyError, match="ulimit -v"):
        effective_memory_mb(2048, MIN_DECODE_MEMORY_MB - 1)
