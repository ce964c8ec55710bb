"""What an index holds, in terms SQL can compute too: counts, id sums and a digest of the frames."""

from __future__ import annotations

from vidtrace.digest import frame_digest  # noqa: F401  (importable from here)
from vidtrace.results.records import Coverage


def add_digests(*digests: int) -> int:
    """The digest of the union of disjoint sets of frames."""
    return sum(digests) % (1 << 64)


def combined_coverage(coverages: list[Coverage]) -> Coverage:
    """The coverage of the union of disjoint shards: counts, sums and digests add, the max is the
    max. Its version is the first shard's (shards recorded by two versions may hold the same
    frames; `Coverage.same_frames` ignores versions)."""
    first = coverages[0]
    return Coverage(
        algorithm=first.algorithm,
        version=first.version,
        count=sum(c.count for c in coverages),
        max_id=max(c.max_id for c in coverages),
        id_sum=sum(c.id_sum for c in coverages),
        digest=add_digests(*(c.digest for c in coverages)),
    )
