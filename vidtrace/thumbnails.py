"""Still frames for the report: one small JPEG of a video at a given second (ffmpeg)."""

from __future__ import annotations

import logging
import os
import subprocess

from vidtrace.decode import ffmpeg_binary
from vidtrace.settings import Settings

log = logging.getLogger(__name__)

#: Width of report thumbnails (pixels).
THUMBNAIL_WIDTH_PX = 200
#: A thumbnail that takes longer than this is skipped (seconds).
THUMBNAIL_TIMEOUT_S = 30


def grab_jpeg(path: str, ts_s: float, settings: Settings) -> bytes | None:
    """A JPEG of `path` at `ts_s`, or None when the file is gone or does not decode there."""
    if not os.path.isfile(path):
        return None
    cmd = [
        ffmpeg_binary(settings), "-nostdin", "-v", "error", "-ss", f"{max(0.0, ts_s):.3f}",
        "-i", "file:" + os.path.abspath(path), "-frames:v", "1",
        "-vf", f"scale={THUMBNAIL_WIDTH_PX}:-2", "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "pipe:",
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=THUMBNAIL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("no thumbnail of %s at %.1f s: %s", path, ts_s, e)
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None
