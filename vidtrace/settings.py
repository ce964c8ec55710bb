"""Named defaults, with units and the reason for each value.

Every value can be overridden per run through `Settings` (the command line maps flags and
`VIDTRACE_*` environment variables onto it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from vidtrace.errors import UsageError

# --- decoding -------------------------------------------------------------------------------
#: Frames sampled per second of video. Two per second keeps consecutive samples within 0.25 s of
#: any instant, so a copy sampled at another phase still finds a close frame.
SAMPLE_FPS = 2.0
#: Side of the small grey frame ffmpeg hands to Python (pixels). Large enough to find borders
#: and to crop them while keeping more than the 32x32 pixels pHash reads.
FRAME_SIDE_PX = 128
#: A decode that takes longer than this is killed and reported (seconds).
DECODE_TIMEOUT_S = 600.0

# --- fingerprinting -------------------------------------------------------------------------
#: pHash side: 8 gives 64-bit hashes.
HASH_SIZE = 8
HASH_ALGORITHM = "phash64"
#: Bumped whenever frame sampling, cropping or hashing changes; a rescan re-fingerprints
#: videos hashed with an older version.
HASH_VERSION = 1
#: Frames whose grey-level standard deviation is below this carry no information (black,
#: flat colour, the middle of a fade) and are not hashed (grey levels, 0-255).
MIN_FRAME_STD = 8.0
#: A border row or column is one whose standard deviation is below this (grey levels).
BORDER_STD = 6.0
#: ...and whose mean differs from the outermost line's mean by less than this (grey levels).
BORDER_MEAN_DELTA = 12.0
#: Never crop more than this share of a side away as border.
MAX_BORDER_SHARE = 0.4

# --- matching -------------------------------------------------------------------------------
#: Two frames are near duplicates when their hashes differ in at most this many bits of 64.
#: Re-encodes and rescales land at 0-6 bits; unrelated frames near 32.
MAX_DISTANCE_BITS = 10
#: Hits of one pair whose time offsets differ by at most this belong to one alignment (s).
OFFSET_TOLERANCE_S = 0.75
#: A gap longer than this between aligned hits splits a segment (s).
MAX_GAP_S = 3.0
#: Segments shorter than this are ignored: a shared title card or a second of black is not a copy (s).
MIN_SEGMENT_S = 3.0
#: A segment needs at least this many aligned frame hits.
MIN_SEGMENT_FRAMES = 4
#: Matches scoring below this are not stored (share of the shorter video covered, 0-1).
MIN_SCORE = 0.0


@dataclass(frozen=True)
class Settings:
    """Settings for one run. Defaults are the module constants."""

    sample_fps: float = SAMPLE_FPS
    frame_side_px: int = FRAME_SIDE_PX
    decode_timeout_s: float = DECODE_TIMEOUT_S
    max_distance_bits: int = MAX_DISTANCE_BITS
    offset_tolerance_s: float = OFFSET_TOLERANCE_S
    max_gap_s: float = MAX_GAP_S
    min_segment_s: float = MIN_SEGMENT_S
    min_segment_frames: int = MIN_SEGMENT_FRAMES
    min_score: float = MIN_SCORE
    ffmpeg_binary: str | None = field(default=None)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then `VIDTRACE_<NAME>` environment variables, then explicit overrides."""
        values = {}
        for f in fields(cls):
            env = os.environ.get(f"VIDTRACE_{f.name.upper()}")
            if env in (None, ""):
                continue
            if isinstance(f.default, bool) or not isinstance(f.default, (int, float)):
                values[f.name] = env
            else:
                try:
                    values[f.name] = type(f.default)(float(env))
                except ValueError as e:
                    raise UsageError(f"VIDTRACE_{f.name.upper()}={env!r} is not a number") from e
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    @property
    def sample_interval_s(self) -> float:
        return 1.0 / self.sample_fps
