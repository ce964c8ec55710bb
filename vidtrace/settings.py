"""Run-time settings: named defaults, with units and the reason for each value.

These change how a run decodes and matches, never what a fingerprint is: the constants a stored
fingerprint depends on are the specification in `vidtrace.spec` (re-exported here for older
imports), which nothing overrides.

The command line and `vidtrace.api.Case` build `Settings.from_env()`: every field can be
overridden per run by a `VIDTRACE_<FIELD>` environment variable (`VIDTRACE_MAX_DISTANCE_BITS=8`),
and `ffmpeg_binary` also by the `--ffmpeg` flag, which wins. Library functions called without
settings use the defaults below. The case file (`vidtrace.toml`) sets none of them.
`DECODE_MEMORY_MB` is not a field: every ffmpeg start reads `VIDTRACE_DECODE_MEMORY_MB` itself
(`ffmpeg_process.decode_memory_mb`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from vidtrace.errors import UsageError
from vidtrace.spec import (  # noqa: F401  (re-exported: the fingerprint specification)
    BLUR_ASYMMETRY,
    BLUR_SHARPNESS_RATIO,
    BORDER_MEAN_DELTA,
    BORDER_STD,
    FRAME_SIDE_PX,
    HASH_ALGORITHM,
    HASH_SIZE,
    HASH_STEP_S,
    HASH_VERSION,
    HASH_WINDOW_S,
    INSET_CHUNK_S,
    INSET_MAX_SHARE,
    INSET_MIN_CONTRAST,
    INSET_MIN_EDGE,
    INSET_MIN_EDGE_MOTION,
    INSET_MIN_MOTION,
    INSET_MIN_SHARE,
    MAX_BORDER_SHARE,
    MAX_CENTRE_SHARE,
    MIN_BLUR_SHARE,
    MIN_FRAME_STD,
    SAMPLE_FPS,
    ZOOM_BORDER_SHARE,
)

# --- decoding -------------------------------------------------------------------------------
#: A decode (or a sound print) that takes longer than this is killed and reported (seconds).
DECODE_TIMEOUT_S = 600.0
#: Address space one ffmpeg process may use (MiB): a hostile file declaring a huge frame size
#: (8000x8000 and more) is refused instead of exhausting the machine. A 8000x8000 H.264 frame
#: decodes in well under 1 GiB. Override with VIDTRACE_DECODE_MEMORY_MB (0: no limit).
DECODE_MEMORY_MB = 2048
#: Decode every frame ("all"), or only the codec's key frames ("keyframes": several times faster,
#: but the samples fall wherever the encoder put key frames, so the fingerprint is sparser; see
#: `decode_command.DECODE_MODES`). The mode is not stored with a fingerprint.
DECODE_MODE = "all"

# --- matching -------------------------------------------------------------------------------
#: Two frames are near duplicates when their hashes differ in at most this many bits of 64.
#: Re-encodes and rescales land at 0-6 bits; unrelated frames near 32.
MAX_DISTANCE_BITS = 10
#: Hits of one pair whose time offsets differ by at most this belong to one alignment (s).
OFFSET_TOLERANCE_S = 0.75
#: A gap longer than this between aligned hits splits a segment (s).
MAX_GAP_S = 3.0
#: Segments shorter than this are ignored: a shared title card or a second of black is not a copy (s).
MIN_SEGMENT_S = 2.5
#: A segment needs at least this many aligned frame hits that are evidence (not held pictures)...
MIN_SEGMENT_FRAMES = 4
#: ...spanning at least this long in both videos, the segment itself lasting `MIN_SEGMENT_S` with
#: its held pictures on the same line: a 3 s talking head whose face moves for 2 s is held before
#: and after, and its copies were found only when nothing was added around it (s).
MIN_DISTINCT_S = 1.5
#: ...and at least this many instants where the two videos agree, held pictures included. With 4
#: (no such rule), two different talking heads matched by chance on 4 or 5 instants of their
#: change pictures over 2.75 to 3 s (5 false pairs in the robustness benchmark); no copy matched
#: its source on fewer than 9 instants, and 34 of 9,003 matches between two copies had 4 or 5.
MIN_SEGMENT_INSTANTS = 6
#: Copies played up to this much faster or slower are aligned (0.25: speeds 0.8 to 1.25).
MAX_SPEED_CHANGE = 0.25
#: The evidence of a copy lies along a line of the speed it was played at. Evidence whose slope
#: (the median slope between its pictures) lies further than this beyond the speeds aligned is no
#: copy: a talking head's like poses a few seconds apart in one recording line up in held steps,
#: at a slope of 0.59 (12 pictures at 8.2 bits over 3 s).
MAX_SLOPE_OVERSHOOT = 0.05
#: Speeds tried between: over a 20 s stretch a 2% step leaves at most 0.2 s of drift.
SPEED_STEP = 0.02
#: A speed other than 1 must gather this many more query frames than speed 1 to win.
SPEED_MARGIN_FRAMES = 2.0
#: A query frame whose hits spread over more than this much of the reference (a static card or
#: scene matching all of its frames) says nothing about when the videos agree (s).
MAX_ECHO_SPAN_S = 2.0
#: ...unless this many changes between held pictures (slides, stills) line up in both videos: a
#: slideshow's slide changes do, where a shared title card, a closing card or a static logo over
#: other content gives at most two.
MIN_HELD_CHANGES = 3
#: Alignments scoring below this are dropped: not stored, not shown (share of the shorter video
#: covered, 0-1).
MIN_SCORE = 0.0


@dataclass(frozen=True)
class Settings:
    """Settings for one run. Defaults are the module constants; `from_env` reads the overrides."""

    decode_timeout_s: float = DECODE_TIMEOUT_S
    max_distance_bits: int = MAX_DISTANCE_BITS
    offset_tolerance_s: float = OFFSET_TOLERANCE_S
    max_gap_s: float = MAX_GAP_S
    min_segment_s: float = MIN_SEGMENT_S
    min_segment_frames: int = MIN_SEGMENT_FRAMES
    min_distinct_s: float = MIN_DISTINCT_S
    min_segment_instants: int = MIN_SEGMENT_INSTANTS
    min_score: float = MIN_SCORE
    max_speed_change: float = MAX_SPEED_CHANGE
    max_slope_overshoot: float = MAX_SLOPE_OVERSHOOT
    speed_step: float = SPEED_STEP
    speed_margin_frames: float = SPEED_MARGIN_FRAMES
    max_echo_span_s: float = MAX_ECHO_SPAN_S
    min_held_changes: int = MIN_HELD_CHANGES
    ffmpeg_binary: str | None = field(default=None)  # None: the binary imageio-ffmpeg ships
    decode_mode: str = DECODE_MODE

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Defaults, then `VIDTRACE_<NAME>` environment variables, then explicit overrides."""
        values: dict[str, Any] = {}
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
    def sample_fps(self) -> float:
        """Frames decoded per second: the specification's `SAMPLE_FPS`, not a setting."""
        return SAMPLE_FPS

    @property
    def sample_interval_s(self) -> float:
        """Seconds between decoded frames (the specification's)."""
        return 1.0 / SAMPLE_FPS

    @property
    def hash_interval_s(self) -> float:
        """Seconds between hashed pictures (the specification's `HASH_STEP_S`): what one frame hash
        stands for in alignment."""
        return HASH_STEP_S
