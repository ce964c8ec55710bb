"""Plain values that cross the storage boundary: what the store hands out and takes in."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidtrace import spec

if TYPE_CHECKING:
    import numpy as np

    from vidtrace.sound import SoundPrint as SoundValues


class Region(enum.IntEnum):
    """The part of a frame a hash covers, as stored with each frame hash: the numbers of the
    fingerprint specification (`vidtrace.spec.REGION_*`), which say what each region is."""

    FRAME = spec.REGION_FRAME
    CONTENT = spec.REGION_CONTENT
    CENTRE = spec.REGION_CENTRE
    ZOOM = spec.REGION_ZOOM
    MIRROR = spec.REGION_MIRROR
    INSET = spec.REGION_INSET
    MOTION = spec.REGION_MOTION
    MOTION_MIRROR = spec.REGION_MOTION_MIRROR
    MOTION_ZOOM = spec.REGION_MOTION_ZOOM
    MOTION_CENTRE = spec.REGION_MOTION_CENTRE
    MOTION_INSET = spec.REGION_MOTION_INSET
    DEEP_ZOOM = spec.REGION_DEEP_ZOOM
    MOTION_DEEP_ZOOM = spec.REGION_MOTION_DEEP_ZOOM
    MOTION_FOCUS = spec.REGION_MOTION_FOCUS


class VideoStatus(enum.StrEnum):
    """A video's fingerprinting outcome, as stored."""

    OK = "ok"
    FAILED = "failed"


class ScanStatus(enum.StrEnum):
    """A scan's state, as stored."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"  # finished, with inputs that failed
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class VideoRecord:
    id: int
    sha256: str
    status: str
    error: str | None
    duration_s: float | None
    matched: bool
    source: str | None = None
    algorithm: str = ""
    algorithm_version: int = 0
    #: (algorithm, version) of its sound print; None when none was computed
    sound: tuple[str, int] | None = None
    unmatched_reason: str | None = None


@dataclass(frozen=True)
class UploadRecord:
    id: int
    video_id: int
    path: str
    account: str | None
    platform: str
    uploaded_at: dt.datetime | None
    uploaded_at_source: str | None
    url: str | None
    title: str | None
    gone: bool
    file_size: int
    file_mtime_ns: int


@dataclass(frozen=True)
class SegmentRecord:
    a_start_s: float
    a_end_s: float
    b_start_s: float
    b_end_s: float
    speed: float
    frames: int
    edits: tuple[str, ...] = ()  # edits that explain the segment (mirrored, padded, cropped, ...)


@dataclass(frozen=True)
class MatchRecord:
    id: int
    video_a_id: int
    video_b_id: int
    score: float
    matched_s: float
    scan_id: int | None
    segments: tuple[SegmentRecord, ...]
    signals: tuple[str, ...] = ("pictures",)  # the signals that align: pictures, sound
    kind: str = "copy"  # "copy", or "same soundtrack" when only the sound aligns


@dataclass(frozen=True)
class ScanRecord:
    id: int
    kind: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict


@dataclass(frozen=True)
class MatchLink:
    video_a_id: int
    video_b_id: int
    score: float
    scan_id: int | None
    kind: str = "copy"
    id: int = 0


@dataclass(frozen=True)
class VideoExport:
    sha256: str
    duration_s: float | None
    fps: float | None
    width: int | None
    height: int | None
    algorithm: str
    algorithm_version: int
    frames: list[tuple[float, bytes, int]]  # ts_s, hash, region
    uploads: list[UploadRecord]
    sound: SoundValues | None = None  # the soundtrack's values, when it has any


@dataclass(frozen=True)
class Coverage:
    """What an index holds, comparable with the same aggregates computed in SQL.

    `digest` identifies the contents: the sum (mod 2**64) of a 64-bit mix of each frame's id and
    hash (`frame_digest`). Count, largest id and id sum alone agree between two stores of the
    same files ingested in another order; the digest does not. A sum, so it grows with each
    frame added and shards' digests add up. 0 for an index that keeps no hashes of its own.
    """

    algorithm: str
    version: int
    count: int
    max_id: int
    id_sum: int
    digest: int = 0

    @classmethod
    def of_contents(cls, algorithm: str, version: int, ids: np.ndarray, codes: np.ndarray) -> Coverage:
        """The coverage of an index holding frames `ids` with hashes `codes` ((n, bytes) uint8)."""
        import numpy as np  # only the index computes coverages from contents

        from vidtrace.digest import frame_digest

        ids = np.asarray(ids, dtype=np.int64)
        return cls(
            algorithm, version, len(ids), int(ids.max()) if len(ids) else 0, int(ids.sum()), frame_digest(ids, codes)
        )  # fmt: skip

    def counts(self) -> tuple[int, int, int]:
        """(count, largest id, id sum): what SQL gives without reading the hashes."""
        return self.count, self.max_id, self.id_sum

    def same_frames(self, other: Coverage) -> bool:
        """Whether the two cover the same frames with the same hashes, whichever hash version the
        code that recorded them wrote: the digest covers every frame's id and hash, and an index
        only ever holds what SQL held (a store's videos keep the version they were hashed with
        until they are fingerprinted again)."""
        return (self.algorithm, self.count, self.max_id, self.id_sum, self.digest) == (
            other.algorithm, other.count, other.max_id, other.id_sum, other.digest,
        )  # fmt: skip
