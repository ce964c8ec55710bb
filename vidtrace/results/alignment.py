"""Frame hits and the alignments made of them: which stretch of one video shows what stretch of another."""

from __future__ import annotations

from dataclasses import dataclass, field

#: edits named by a segment whose speed is clearly not 1 (seen from the query)
SPED_UP = "sped up"
SLOWED_DOWN = "slowed down"


@dataclass(frozen=True)
class FrameHit:
    q_ts: float
    r_ts: float
    distance_bits: int
    #: edits that explain this hit (e.g. "mirrored", "padded", "cropped"), when known
    edits: frozenset[str] = field(default_factory=frozenset)
    #: how long either picture is held in its own video (s): the span of its near duplicates
    #: around it there. A held picture (a still, a large static logo over changing content) is
    #: no evidence of *when* the videos agree.
    held_s: float = 0.0
    #: the query's change between two held pictures (a slide change) this hit lies at, when the
    #: reference changes there too (once its frames are read; before, the query's alone). Held
    #: pictures are evidence where `min_held_changes` such changes line up (a slideshow).
    change_s: float | None = None
    #: the query picture's region (`fingerprint.REGION_*`): a query instant has one picture per
    #: region, each with hits of its own; a held whole picture's echoes say nothing of the
    #: change region's hits at the same instant.
    q_region: int = 0


@dataclass(frozen=True)
class Segment:
    """`[q_start, q_end]` of the query shows the same as `[r_start, r_end]` of the reference.

    `speed` is reference seconds per query second (1.1: the query plays the reference 10% faster).
    """

    q_start: float
    q_end: float
    r_start: float
    r_end: float
    speed: float
    frames: int
    mean_distance_bits: float
    edits: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.q_end - self.q_start


def swap_edit(edit: str) -> str:
    """An edit as seen from the other video (sped up one way is slowed down the other)."""
    return {SPED_UP: SLOWED_DOWN, SLOWED_DOWN: SPED_UP}.get(edit, edit)


def union_length(intervals: list[tuple[float, float]]) -> float:
    """The length covered by the union of `(start, stop)` intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


@dataclass(frozen=True)
class Alignment:
    segments: tuple[Segment, ...]
    matched_s: float
    score: float  # share of the shorter video covered by the segments, 0-1

    def swapped(self) -> Alignment:
        """The same alignment seen from the reference's side."""
        segments = tuple(
            sorted(
                (
                    Segment(
                        s.r_start,
                        s.r_end,
                        s.q_start,
                        s.q_end,
                        round(1.0 / s.speed, 4),
                        s.frames,
                        s.mean_distance_bits,
                        tuple(sorted(swap_edit(e) for e in s.edits)),
                    )
                    for s in self.segments
                ),
                key=lambda s: s.q_start,
            )
        )
        matched = union_length([(s.q_start, s.q_end) for s in segments])
        return Alignment(segments, round(matched, 3), self.score)

    @property
    def edits(self) -> tuple[str, ...]:
        """Every edit named by any segment."""
        return tuple(sorted({e for s in self.segments for e in s.edits}))
