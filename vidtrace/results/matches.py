"""What matching, lookup and a scan hand back: matches with their signals and kinds, lookup results
and scan summaries."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from vidtrace.results.alignment import Alignment

if TYPE_CHECKING:
    from vidtrace.results.records import UploadRecord


class Signal(enum.StrEnum):
    """The kinds of evidence a match rests on."""

    PICTURES = "pictures"
    SOUND = "sound"


class MatchKind(enum.StrEnum):
    """What a match says of two videos."""

    COPY = "copy"
    SAME_SOUNDTRACK = "same soundtrack"
    #: what `lookup` reports for a file whose SHA-256 is stored: that very video
    IDENTICAL_FILE = "identical file"


# plain strings, as stored in the database and written to JSON
PICTURES = Signal.PICTURES.value
SOUND = Signal.SOUND.value
COPY = MatchKind.COPY.value
SAME_SOUNDTRACK = MatchKind.SAME_SOUNDTRACK.value
IDENTICAL_FILE = MatchKind.IDENTICAL_FILE.value


@dataclass(frozen=True)
class VideoMatch:
    """The query (one side) matches stored video `video_id`; segments are seen from the query."""

    video_id: int
    alignment: Alignment


@dataclass(frozen=True)
class SignalMatch:
    """The query matches stored video `video_id`; segments seen from the query."""

    video_id: int
    alignment: Alignment
    signals: tuple[str, ...]  # the signals that align, in `SIGNALS` order
    kind: str  # COPY, SAME_SOUNDTRACK (or IDENTICAL_FILE in lookup)


@dataclass(frozen=True)
class LookupMatch:
    """Stored video `video_id` matches the query; segments seen from the query."""

    video_id: int
    alignment: Alignment
    signals: tuple[str, ...] = (PICTURES,)
    kind: str = COPY  # "identical file", "copy" or "same soundtrack"


@dataclass(frozen=True)
class LookupResult:
    path: str
    duration_s: float
    matches: list[LookupMatch]
    uploads: dict[int, list[UploadRecord]]
    sources: dict[int, str | None]  # None: fingerprinted here; else the partner source it was imported from


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass
class ScanSummary:
    scan_id: int
    kind: str
    files: int = 0
    new_videos: int = 0
    new_uploads: int = 0
    moved_uploads: int = 0
    unchanged_uploads: int = 0
    gone_uploads: int = 0
    returned_uploads: int = 0
    refingerprinted_videos: int = 0
    #: videos matched by older matching rules: matched again (rescan), or left as they are (ingest)
    rematched_videos: int = 0
    older_rules_videos: int = 0
    sidecar_uploads: int = 0  # files whose account, time, URL and title came from a yt-dlp .info.json
    new_matches: list[int] = field(default_factory=list)
    #: stored matches that matching again by newer rules no longer found (deleted)
    dropped_matches: list[int] = field(default_factory=list)
    new_upload_ids: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    new_clusters: list[int] = field(default_factory=list)
    merged_clusters: list[tuple[int, int]] = field(default_factory=list)
    new_groups: list[tuple[str, ...]] = field(default_factory=list)
    grown_groups: list[tuple[str, ...]] = field(default_factory=list)
    #: files in a folder a manifest covers that the manifest does not name (ingested with file times)
    not_in_manifest: list[str] = field(default_factory=list)
    #: new contents this run set out to fingerprint
    to_fingerprint: int = 0
    #: what the interrupted run before this one kept, when this run resumes its work
    resumed: str | None = None

    def counts(self) -> dict:
        data = asdict(self)
        for key in (
            "new_matches",
            "dropped_matches",
            "failures",
            "warnings",
            "new_clusters",
            "merged_clusters",
            "new_groups",
            "grown_groups",
            "not_in_manifest",
        ):
            data[key] = len(data[key])
        del data["scan_id"], data["kind"], data["new_upload_ids"], data["resumed"]
        return data
