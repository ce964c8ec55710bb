"""Still frames for the report: one small JPEG of a video at a given second (ffmpeg)."""

from __future__ import annotations

import logging
import os

from vidtrace.ffmpeg_process import FfmpegProcess, ffmpeg_binary
from vidtrace.settings import Settings

log = logging.getLogger(__name__)

#: Width of report thumbnails (pixels).
THUMBNAIL_WIDTH_PX = 200
#: A thumbnail that takes longer than this is skipped (seconds).
THUMBNAIL_TIMEOUT_S = 30
#: JPEG quality of a thumbnail (ffmpeg's mjpeg scale: 2 best, 31 worst).
THUMBNAIL_JPEG_QUALITY = 5


def grab_jpeg(path: str, ts_s: float, settings: Settings) -> bytes | None:
    """A JPEG of `path` at `ts_s`, or None when the file is gone or does not decode there."""
    if not os.path.isfile(path):
        return None
    cmd = [
        ffmpeg_binary(settings), "-nostdin", "-v", "error", "-ss", f"{max(0.0, ts_s):.3f}",
        "-i", "file:" + os.path.abspath(path), "-frames:v", "1", "-vf", f"scale={THUMBNAIL_WIDTH_PX}:-2",
        "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", str(THUMBNAIL_JPEG_QUALITY), "pipe:",
    ]  # fmt: skip
    try:
        # No memory limit: a thumbnail decodes one frame of a video already fingerprinted.
        process = FfmpegProcess(cmd, memory_mb=0, timeout_s=THUMBNAIL_TIMEOUT_S)
    except OSError as e:
        log.warning("no thumbnail of %s at %.1f s: %s", path, ts_s, e)
        return None
    with process:
        out, _ = process.communicate()
    if process.timed_out.is_set():
        log.warning("no thumbnail of %s at %.1f s: ffmpeg took longer than %s s", path, ts_s, THUMBNAIL_TIMEOUT_S)
        return None
    return out if process.returncode == 0 and out else None
