"""Named defaults, with units and the reason for each value.

Every value can be overridden per run through `Settings` (the command line maps flags and
`VIDTRACE_*` environment variables onto it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from vidtrace.errors import UsageError

# --- decoding -------------------------------------------------------------------------------
#: Frames decoded per second of video (at most; fewer when the video has fewer). Dense, because
#: the pictures hashed are averages over short windows of frames (see HASH_WINDOW_S); 15 keeps
#: the fingerprinting cost within 1.3x of sampling 2 per second (25: 1.5x, for no measured gain).
SAMPLE_FPS = 15.0
#: Side of the small grey frame ffmpeg hands to Python (pixels). Large enough to find borders
#: and to crop them while keeping more than the 32x32 pixels pHash reads.
FRAME_SIDE_PX = 128
#: A decode that takes longer than this is killed and reported (seconds).
DECODE_TIMEOUT_S = 600.0

# --- fingerprinting -------------------------------------------------------------------------
#: Each hashed picture is the mean of the frames within half of this of its instant (s). Single
#: frames 0.1 s apart can differ by a third of their bits; 0.5 s means shifted by a quarter of
#: their window stay within a few bits, so a copy sampled at another phase still matches.
HASH_WINDOW_S = 0.5
#: One hashed picture every this many seconds (windows overlap by three quarters). A copy is at
#: most half a step out of phase; content that changes completely from frame to frame (a
#: scrolling texture) needs that within 0.06 s: at 0.25 s steps, compilations cut at arbitrary
#: instants lost half their excerpts in the robustness benchmark, at 0.125 s none.
HASH_STEP_S = 0.125
#: Hash side: 8 gives 64-bit hashes (imagehash pHash: the 8x8 lowest DCT frequencies of a 32x32
#: image against their median).
HASH_SIZE = 8
HASH_ALGORITHM = "phash64"
#: Bumped whenever frame sampling, cropping or hashing changes; a rescan re-fingerprints
#: videos hashed with an older version. 2: blurred and coloured padding removed, centre region
#: hashed for re-framed copies. 3: imagehash pHash, mirrored content hashed and stored. 4: one
#: picture every 0.125 s, inset pictures (picture-in-picture) hashed. 5: insets also found by
#: their finer detail. 6: the change between pictures half a second apart hashed too (still
#: backdrops, talking heads). 7: insets found by their straight edges first, the change within
#: an inset hashed; the content without a fifth of each side hashed (pictures and changes).
HASH_VERSION = 7
#: Frames whose grey-level standard deviation is below this carry no information (black,
#: flat colour, the middle of a fade) and are not hashed (grey levels, 0-255).
MIN_FRAME_STD = 8.0
#: A border row or column is one whose standard deviation is below this (grey levels).
BORDER_STD = 6.0
#: ...and whose mean differs from the outermost line's mean by less than this (grey levels).
BORDER_MEAN_DELTA = 12.0
#: Never crop more than this share of a side away as border.
MAX_BORDER_SHARE = 0.4
#: A line is blurred padding when its detail (mean absolute difference between neighbouring
#: pixels) is below this share of the detail at the frame's centre.
BLUR_SHARPNESS_RATIO = 0.35
#: Blurred padding must cover at least this share of the side at each end...
MIN_BLUR_SHARE = 0.05
#: ...and both ends must agree within this share of the side (a blurred background is centred).
BLUR_ASYMMETRY = 0.08
#: A second hash covers the content without this share of each side: copies cropped by up to
#: about twice this much (and scaled back up) match it within the distance threshold.
ZOOM_BORDER_SHARE = 0.075
#: The centre region (9:16 of landscape content, 16:9 of portrait) is hashed too when it keeps at
#: most this share of the content's width (height); closer to 9:16 the whole frame is enough.
MAX_CENTRE_SHARE = 0.8

#: Picture-in-picture: the frames of each stretch of this many seconds are searched together for
#: an inset (a smaller video over a host); the inset, when found, is hashed in each of them.
INSET_CHUNK_S = 8.0
#: An inset's width and height lie between these shares of the frame's.
INSET_MIN_SHARE = 0.2
INSET_MAX_SHARE = 0.7
#: An inset differs from its surroundings along all four sides by at least this many times the
#: typical difference between cells two apart, in texture, motion, brightness or detail scale.
#: The best stretch of each of the four PiP copies of the robustness benchmark scores 3.3 to 9.4
#: at its inset. Over the 232 stretches of the benchmark's other 132 clips, the best rectangle
#: scores a median of 1.1 (90th percentile 3.7); the 24 that also pass the motion test cost
#: hashes, not false matches (an inset must still match a whole frame of another video, in time).
INSET_MIN_CONTRAST = 2.0
#: ...or its four sides are straight lines this many times sharper (on average along each side)
#: than the picture's typical step, less the steps a few pixels beside them (see `insets`).
#: Over the benchmark's real clips, the talking heads shown small over other talking heads score
#: 1.7 to 11.6 (one stretch of 15: 0.5); the sources themselves 0.0 to 2.1 (slideshows of moving
#: clips the highest), but for one (5.9: a black strip under a shirt). A false inset costs
#: hashes, not matches: its pictures must still match another video in time.
INSET_MIN_EDGE = 1.5
#: An inset found by its edges moves at least this much (grey levels of temporal spread, mean over
#: the inset): a talking head shown small moves little (1.0 to 16), a pasted logo not at all.
INSET_MIN_EDGE_MOTION = 0.8
#: ...and moves: a static logo or a held card is not an inset (grey levels of temporal spread).
INSET_MIN_MOTION = 6.0

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
#: A segment needs at least this many aligned frame hits.
MIN_SEGMENT_FRAMES = 4
#: Copies played up to this much faster or slower are aligned (0.25: speeds 0.8 to 1.25).
MAX_SPEED_CHANGE = 0.25
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
    max_speed_change: float = MAX_SPEED_CHANGE
    speed_step: float = SPEED_STEP
    speed_margin_frames: float = SPEED_MARGIN_FRAMES
    max_echo_span_s: float = MAX_ECHO_SPAN_S
    min_held_changes: int = MIN_HELD_CHANGES
    ffmpeg_binary: str | None = field(default=None)
    decode_mode: str = "all"  # "all" frames, or "keyframes": codec key frames only (fast; see decode.DECODE_MODES)

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
        """Seconds between decoded frames."""
        return 1.0 / self.sample_fps

    @property
    def hash_interval_s(self) -> float:
        """Seconds between hashed pictures: what one frame hash stands for in alignment."""
        return HASH_STEP_S
