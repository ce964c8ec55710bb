"""Fingerprinting: sampled frames in, one perceptual hash per informative frame out.

Each frame is cropped to its content (letterbox and pillarbox bars removed), dropped when it
carries no information (black, flat colour, the middle of a fade), and hashed with imagehash's
pHash. The pure functions (`content_box`, `frame_quality`, `hash_frame`) take numpy arrays;
`fingerprint_file` is the one that runs the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import imagehash
import numpy as np
from PIL import Image

from vidtrace import settings as defaults
from vidtrace.decode import DecodedFrame, Decoding, VideoInfo, decode
from vidtrace.errors import InputError
from vidtrace.hashes import bits_to_bytes
from vidtrace.settings import Settings


@dataclass(frozen=True)
class FrameHash:
    ts_s: float
    hash: bytes
    quality: float  # grey-level standard deviation of the content region


@dataclass
class VideoFingerprint:
    info: VideoInfo
    frames: list[FrameHash]
    sampled_frames: int
    warnings: list[str] = field(default_factory=list)
    algorithm: str = defaults.HASH_ALGORITHM
    version: int = defaults.HASH_VERSION

    @property
    def duration_s(self) -> float:
        """The header's duration, else the last sampled instant."""
        if self.info.duration_s:
            return self.info.duration_s
        return max((f.ts_s for f in self.frames), default=0.0)


def _border_depth(lines_std: np.ndarray, lines_mean: np.ndarray, limit: int) -> int:
    """How many lines from the start of the arrays form a uniform border."""
    edge_mean = lines_mean[0]
    depth = 0
    while (
        depth < limit
        and lines_std[depth] < defaults.BORDER_STD
        and abs(lines_mean[depth] - edge_mean) < defaults.BORDER_MEAN_DELTA
    ):
        depth += 1
    return depth


def content_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the frame's content, with uniform bars on any side removed."""
    height, width = pixels.shape
    img = pixels.astype(np.float32)
    row_std, row_mean = img.std(axis=1), img.mean(axis=1)
    col_std, col_mean = img.std(axis=0), img.mean(axis=0)
    max_rows = int(height * defaults.MAX_BORDER_SHARE)
    max_cols = int(width * defaults.MAX_BORDER_SHARE)
    top = _border_depth(row_std, row_mean, max_rows)
    bottom = height - _border_depth(row_std[::-1], row_mean[::-1], max_rows)
    left = _border_depth(col_std, col_mean, max_cols)
    right = width - _border_depth(col_std[::-1], col_mean[::-1], max_cols)
    return top, bottom, left, right


def frame_quality(content: np.ndarray) -> float:
    """Grey-level standard deviation: near zero for black, flat or faded frames."""
    return float(content.std())


def hash_frame(content: np.ndarray, hash_size: int = defaults.HASH_SIZE) -> bytes:
    """pHash of a grey image, as raw bytes."""
    return bits_to_bytes(imagehash.phash(Image.fromarray(content), hash_size=hash_size).hash)


def hash_frames(frames: Iterable[DecodedFrame]) -> tuple[list[FrameHash], int]:
    """Hash the informative frames; returns the hashes and how many frames were seen."""
    hashes: list[FrameHash] = []
    seen = 0
    for frame in frames:
        seen += 1
        top, bottom, left, right = content_box(frame.pixels)
        content = frame.pixels[top:bottom, left:right]
        quality = frame_quality(content)
        if quality < defaults.MIN_FRAME_STD:
            continue
        hashes.append(FrameHash(ts_s=round(frame.ts_s, 3), hash=hash_frame(content), quality=round(quality, 2)))
    return hashes, seen


def fingerprint_file(path: Path, settings: Settings) -> VideoFingerprint:
    """Decode and hash one file. Raises InputError when the file yields nothing usable."""
    path = Path(path)
    state = Decoding(path)
    hashes, seen = hash_frames(decode(path, settings, state))
    if not hashes:
        raise InputError(path, f"no informative frames (all {seen} sampled frames are black or flat)")
    return VideoFingerprint(info=state.info, frames=hashes, sampled_frames=seen, warnings=state.warnings)
