"""The soundtrack as a fingerprint: Chromaprint values from the bundled ffmpeg.

ffmpeg's `chromaprint` muxer turns the first audio stream into raw Chromaprint values: one
32-bit value every 4096/3 samples at 11025 Hz (`SOUND_STEP_S`, about 8 a second), each
summing the chroma (the 12 pitch classes) of about two seconds of sound from its instant on.
A re-encoded soundtrack keeps most bits of each value; unrelated sound differs in about half.

The values are a second signal beside the frame hashes: they find a dub (other pictures over the
same soundtrack) and confirm a copy. A tempo change that keeps the pitch (ffmpeg's `atempo`, 0.9x
to 1.1x) still aligns; one that shifts the pitch with the speed moves every chroma bin and does
not. A file without an audio stream has no sound print (None, not an error); digital silence and
a constant tone give one value over and over, which the held-picture rule of alignment treats
like a still (no evidence of *when*).

ffmpeg runs in its own process, under the same memory limit and timeout as picture decoding.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidtrace.align import Alignment, FrameHit, HitFields, align_planned
from vidtrace.errors import DependencyError, InputError
from vidtrace.ffmpeg_process import FfmpegProcess, decode_memory_mb, ffmpeg_binary
from vidtrace.hashes import self_echo_spans
from vidtrace.lines import HitColumns, plan_lines
from vidtrace.settings import Settings
from vidtrace.spec import (
    SOUND_ALGORITHM,
    SOUND_CHROMAPRINT_ALGORITHM,
    SOUND_FRAME_SAMPLES,
    SOUND_FRAMES_PER_VALUE,
    SOUND_RATE_HZ,
    SOUND_STEP_S,
    SOUND_VERSION,
)

log = logging.getLogger(__name__)

#: Bytes per value (little-endian uint32 on the pipe; rows of 4 bytes in the index).
VALUE_BYTES = 4
#: stderr text of ffmpeg when the file has no audio stream to map.
_NO_AUDIO = re.compile(r"matches no streams|does not contain any stream|Output file.*does not contain", re.I)
#: stderr text of ffmpeg when the memory limit refused an allocation.
_NO_MEMORY = re.compile(r"cannot allocate memory|out of memory", re.I)
#: ffmpeg's last stderr line is quoted in a message cut to this many characters.
_QUOTE_CHARS = 200


@dataclass(frozen=True)
class SoundPrint:
    """A soundtrack's Chromaprint values; value i covers the sound from `i * step_s` on."""

    values: np.ndarray  # uint32
    algorithm: str = SOUND_ALGORITHM
    version: int = SOUND_VERSION
    step_s: float = SOUND_STEP_S

    def __len__(self) -> int:
        return len(self.values)

    @property
    def ts_s(self) -> np.ndarray:
        return np.arange(len(self.values), dtype=np.float64) * self.step_s

    def to_bytes(self) -> bytes:
        return np.asarray(self.values, dtype="<u4").tobytes()

    @classmethod
    def from_bytes(
        cls, raw: bytes, algorithm: str = SOUND_ALGORITHM, version: int = SOUND_VERSION, step_s: float = SOUND_STEP_S
    ) -> SoundPrint:
        return cls(np.frombuffer(raw, dtype="<u4").astype(np.uint32), algorithm, version, step_s)


def value_rows(values: np.ndarray) -> np.ndarray:
    """uint32 values as (n, 4) uint8 rows, most significant byte first (FAISS binary, d=32)."""
    return np.ascontiguousarray(np.asarray(values, dtype=">u4")).view(np.uint8).reshape(-1, VALUE_BYTES)


def sound_command(path: Path, settings: Settings) -> list[str]:
    """The ffmpeg command writing the raw Chromaprint values of `path`'s first audio stream to stdout."""
    return [
        ffmpeg_binary(settings), "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
        "-i", "file:" + str(Path(path).absolute()), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1",
        "-f", "chromaprint", "-fp_format", "raw", "-algorithm", str(SOUND_CHROMAPRINT_ALGORITHM), "pipe:1",
    ]  # fmt: skip


def sound_print(path: Path, settings: Settings) -> SoundPrint | None:
    """The soundtrack's Chromaprint values; None when the file has no audio stream.

    Raises InputError when ffmpeg fails on the audio (the caller may still use the pictures),
    DependencyError when ffmpeg cannot run.
    """
    cmd = sound_command(path, settings)
    memory_mb = decode_memory_mb()
    try:
        process = FfmpegProcess(cmd, memory_mb, settings.decode_timeout_s)
    except OSError as e:
        raise DependencyError(f"cannot run ffmpeg ({cmd[0]}): {e}") from e
    with process:
        out, err = process.communicate()
    text = err.decode("utf-8", "replace")
    if process.timed_out.is_set():
        raise InputError(path, f"sound print took longer than {settings.decode_timeout_s:g} s and was stopped")
    returncode = process.wait()  # it has exited
    if returncode != 0:
        if _NO_AUDIO.search(text):
            return None
        if returncode < 0 or (memory_mb and _NO_MEMORY.search(text)):
            raise InputError(path, f"sound print stopped (ffmpeg exit {returncode}, memory limit {memory_mb} MiB)")
        detail = text.strip().splitlines()[-1:] or ["no output"]
        raise InputError(path, f"sound print failed: {detail[0][:_QUOTE_CHARS]}")
    usable = len(out) - len(out) % VALUE_BYTES
    return SoundPrint(np.frombuffer(out[:usable], dtype="<u4").astype(np.uint32))


def brute_distances(queries: np.ndarray, values: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between two arrays of uint32 values (the oracle)."""
    x = np.asarray(queries, dtype=np.uint32)[:, None] ^ np.asarray(values, dtype=np.uint32)[None, :]
    return np.bitwise_count(x).astype(np.int32)


# --- alignment of sound hits (pure) ------------------------------------------------------------

#: Two values are near duplicates when they differ in at most this many of their 32 bits. A
#: re-encoded soundtrack (AAC 48-64 kbit/s) keeps values within 0-2 bits, a trimmed one (another
#: phase) within 0-1, a tempo change of 10% (pitch kept) within 6 for 95% of values; unrelated
#: speech comes within 6 bits of a value about once in 10,000 comparisons. Over the real
#: talking-head clips' edits and about 600 negative pairs: 6 bits found 19 of 20 edited
#: soundtracks with no false pair; 7 bits let 1 false pair in, 8 bits 13.
SOUND_MAX_DISTANCE_BITS = 6
#: A sound segment needs this many aligned values (1.5 s of values, about 8 a second): values
#: overlap (each sums two seconds of sound), so a few neighbouring hits are one coincidence.
SOUND_MIN_SEGMENT_VALUES = 12
#: ...whose values span at least this long in both soundtracks (s; each value sums two more
#: seconds, so about 4.2 s of sound). Over the real talking-head clips' dubs, excerpts and 646
#: negative pairs (other clips, disjoint thirds of one clip, silence, a hum): pair recall 0.70 at
#: 2.5 s, 0.80 at 2 s, 0.81 at 1.5 s, no false pair at any of them; 5 s excerpts need 2 s.
SOUND_MIN_SEGMENT_S = 2.0
#: A soundtrack too short for `SOUND_MIN_SEGMENT_VALUES` (under about 3.5 s of sound) matches
#: when every one of its values, at least this many (about 2.6 s of sound), agrees with the other
#: soundtrack at one offset, none of them held. Over the real talking-head clips, windows of 4
#: consecutive values that are not held found no other clip's soundtrack (0 of 2,832 windows
#: against 6 other clips and the 6 pattern clips); one clip with looping background music
#: (d11) matched its own other stretches in 35 of 302 windows.
SOUND_MIN_SHORT_VALUES = 4
#: Videos shorter than this (s) may have fewer than `SOUND_MIN_SEGMENT_VALUES` values (the first
#: value needs about 2.2 s of sound, and ffmpeg's Chromaprint starts later still: 3.1 s gives 4).
SHORT_SOUNDTRACK_S = 8.0
#: Hits of one pair whose offsets differ by at most this belong to one alignment (s): values
#: come every 0.124 s and a copy's are at most half a step out of phase.
SOUND_OFFSET_TOLERANCE_S = 0.5


def required_values(q_count: int, r_count: int) -> int:
    """How many aligned values a pair of soundtracks with these many values needs: the usual
    minimum, or every value of a soundtrack too short for it (at least `SOUND_MIN_SHORT_VALUES`)."""
    shorter = min(q_count, r_count)
    if shorter >= SOUND_MIN_SEGMENT_VALUES:
        return SOUND_MIN_SEGMENT_VALUES
    return max(SOUND_MIN_SHORT_VALUES, shorter)


def sound_settings(settings: Settings, need_values: int = SOUND_MIN_SEGMENT_VALUES) -> Settings:
    """The alignment settings for sound: the picture settings with the sound thresholds (for a
    pair that needs `need_values` aligned values, see `required_values`)."""
    # a short print: the span of its `need_values` values, less half a step of rounding
    min_s = SOUND_MIN_SEGMENT_S if need_values >= SOUND_MIN_SEGMENT_VALUES else (need_values - 1.5) * SOUND_STEP_S
    return replace(
        settings,
        max_distance_bits=SOUND_MAX_DISTANCE_BITS,
        min_segment_frames=need_values,
        min_segment_instants=need_values,
        min_segment_s=min_s,
        min_distinct_s=min_s,  # a held value is never evidence, however long the segment
        offset_tolerance_s=SOUND_OFFSET_TOLERANCE_S,
        min_held_changes=_NEVER,
        # A value sums 2 s of sound: at a soundtrack's start several values match the other's first
        # one, steps no speed explains (a dub against a copy with 3 s of silence before its sound).
        max_slope_overshoot=math.inf,
    )


#: Held values have no slide changes: the slideshow rule of alignment never applies to sound.
_NEVER = 1 << 30


def held_spans(values: np.ndarray, step_s: float, settings: Settings) -> np.ndarray:
    """How long each value is held in its own soundtrack (s): silence, a hum or a held tone repeats
    one value, which says nothing about *when* two soundtracks agree."""
    ts = np.arange(len(values), dtype=np.float64) * step_s
    s = sound_settings(settings)
    return self_echo_spans(ts, value_rows(values), s.max_distance_bits, s.max_echo_span_s + s.offset_tolerance_s)


@dataclass(frozen=True)
class _ValueHits:
    """Hits between two soundtracks' values as arrays (query and stored times, bits, how long the
    values are held): alignment makes a `FrameHit` of the chosen ones only (`vidtrace.align.HitSource`)."""

    q: np.ndarray
    r: np.ndarray
    d: np.ndarray
    held_s: np.ndarray

    def hits_at(self, k: np.ndarray) -> list[FrameHit]:
        columns = (self.q[k].tolist(), self.r[k].tolist(), self.d[k].tolist(), self.held_s[k].tolist())
        return [FrameHit(q, r, d, held_s=held) for q, r, d, held in zip(*columns)]

    def fields(self, k: np.ndarray) -> HitFields:
        return HitFields(
            self.q[k], self.r[k], self.d[k], np.zeros(len(k), np.int64), self.held_s[k], np.full(len(k), np.nan)
        )

    def columns(self) -> HitColumns:
        none = np.zeros(len(self.q), np.int64)  # one region, no edits
        return HitColumns(self.q, self.r, self.d, none, none)


def align_values(
    q_values: np.ndarray, q_duration_s: float, r_values: np.ndarray, r_duration_s: float,
    hits: tuple[np.ndarray, np.ndarray, np.ndarray], settings: Settings, step_s: float = SOUND_STEP_S,
    q_held: np.ndarray | None = None, r_held: np.ndarray | None = None,
) -> Alignment | None:  # fmt: skip
    """Segments where two soundtracks agree, from hits (query rows, reference rows, distances).
    `q_held`, `r_held`: the query's and the reference's `held_spans`, when already known."""
    rows, positions, dists = (np.asarray(a, dtype=np.int64) for a in hits)
    need = required_values(len(q_values), len(r_values))
    if len(np.unique(rows)) < need:
        return None
    shorter = q_values if len(q_values) <= len(r_values) else r_values
    if need < SOUND_MIN_SEGMENT_VALUES and len(np.unique(shorter)) < SOUND_MIN_SHORT_VALUES:
        return None  # a short print of one or two values (silence: too short to be seen as held)
    q_held = held_spans(q_values, step_s, settings) if q_held is None else q_held
    r_held = held_spans(r_values, step_s, settings) if r_held is None else r_held
    value_hits = _ValueHits(
        rows * step_s, positions * step_s, dists, np.maximum(q_held[rows], r_held[positions]).astype(np.float64)
    )
    need_settings = sound_settings(settings, need)
    found = align_planned(
        value_hits, plan_lines(value_hits.columns(), need_settings), q_duration_s, r_duration_s, need_settings
    )
    return None if found is None else _covering(found, q_duration_s, r_duration_s, step_s)


#: Each value sums this much sound from its instant on (16 frames of 4096 samples a third apart):
#: a soundtrack's last values cover its last two seconds.
VALUE_SPAN_S = (SOUND_FRAMES_PER_VALUE - 1) * SOUND_STEP_S + SOUND_FRAME_SAMPLES / SOUND_RATE_HZ


def _covering(found: Alignment, q_duration_s: float, r_duration_s: float, step_s: float) -> Alignment:
    """The alignment with each segment's end moved to the end of the sound its last value sums."""
    extra = VALUE_SPAN_S - step_s
    segments = []
    for s in found.segments:
        grow = max(0.0, min(extra, q_duration_s - s.q_end, (r_duration_s - s.r_end) / s.speed))
        segments.append(replace(s, q_end=round(s.q_end + grow, 3), r_end=round(s.r_end + grow * s.speed, 3)))
    matched = 0.0
    end = float("-inf")
    for s in sorted(segments, key=lambda s: s.q_start):
        if s.q_end > end:
            matched += s.q_end - max(s.q_start, end)
            end = s.q_end
    shorter = max(min(q_duration_s, r_duration_s), step_s)
    return Alignment(tuple(segments), round(matched, 3), round(min(1.0, max(found.score, matched / shorter)), 4))


def brute_hits(q_values: np.ndarray, r_values: np.ndarray, max_bits: int = SOUND_MAX_DISTANCE_BITS):
    """(query rows, reference rows, distances) of value pairs within `max_bits` (brute force)."""
    d = brute_distances(q_values, r_values)
    rows, positions = np.nonzero(d <= max_bits)
    return rows, positions, d[rows, positions]
