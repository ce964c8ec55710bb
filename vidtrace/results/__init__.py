"""The values the pipeline's stages hand each other, and what the store and the renderers read.

Plain dataclasses and string enums: no numpy, SQLAlchemy or pipeline module is imported here, so
rendering and storage can use them without pulling in decoding, hashing or the index.

- `alignment`: frame hits, segments and alignments (which stretch of one video shows another).
- `matches`: matches by signal and kind, lookup results, scan summaries.
- `records`: what the store hands out (videos, uploads, matches, scans, exports, index coverage).
- `clusters`: content clusters, upload events, coordinated groups and the store's snapshot of them.
"""

# ruff: noqa: F401
from vidtrace.results.alignment import SLOWED_DOWN, SPED_UP, Alignment, FrameHit, Segment, swap_edit, union_length
from vidtrace.results.clusters import (
    Amplifier,
    Changes,
    Cluster,
    Coordination,
    Evidence,
    Group,
    LinkTest,
    MatchEdge,
    Placement,
    Relation,
    Snapshot,
    UploadEvent,
    cluster_events,
    clusters_by_video,
)
from vidtrace.results.matches import (
    COPY,
    IDENTICAL_FILE,
    PICTURES,
    SAME_SOUNDTRACK,
    SOUND,
    Failure,
    LookupMatch,
    LookupResult,
    MatchKind,
    ScanSummary,
    Signal,
    SignalMatch,
    VideoMatch,
)
from vidtrace.results.records import (
    Coverage,
    MatchLink,
    MatchRecord,
    Region,
    ScanRecord,
    ScanStatus,
    SegmentRecord,
    UploadRecord,
    VideoExport,
    VideoRecord,
    VideoStatus,
)
