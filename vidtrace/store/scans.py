"""Scans: when they ran, how they ended, what they counted, and the cluster merges they recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vidtrace.results.records import ScanRecord
from vidtrace.store.models import Account, ClusterMerge, Frame, Match, Scan, Segment, SoundPrint, Upload, Video
from vidtrace.store.sql import utcnow


def start_scan(session: Session, kind: str, roots: list[dict]) -> int:
    scan = Scan(kind=kind, roots=roots, started_at=utcnow(), status="running", counts={})
    session.add(scan)
    session.flush()
    return scan.id


def finish_scan(session: Session, scan_id: int, status: str, counts: dict) -> None:
    session.execute(update(Scan).where(Scan.id == scan_id).values(status=status, counts=counts, finished_at=utcnow()))


def set_scan_counts(session: Session, scan_id: int, counts: dict) -> None:
    """Record counts of a running scan (its final counts replace them when it finishes)."""
    session.execute(update(Scan).where(Scan.id == scan_id).values(counts=counts))


def previous_scan(session: Session, scan_id: int) -> ScanRecord | None:
    """The scan started just before `scan_id`, if any."""
    row = session.execute(
        select(Scan.id, Scan.kind, Scan.status, Scan.started_at, Scan.finished_at, Scan.counts)
        .where(Scan.id < scan_id)
        .order_by(Scan.id.desc())
        .limit(1)
    ).first()
    return ScanRecord(row[0], row[1], row[2], row[3], row[4], dict(row[5] or {})) if row else None


def count_videos_created(session: Session, since: dt.datetime, until: dt.datetime | None = None) -> int:
    """Videos fingerprinted here (not imported) and stored from `since` (until `until`)."""
    query = select(func.count()).select_from(Video).where(Video.source.is_(None), Video.created_at >= since)
    if until is not None:
        query = query.where(Video.created_at <= until)
    return session.execute(query).scalar_one()


def known_sources(session: Session) -> list[dict]:
    """Every distinct root or manifest ingested before, oldest first."""
    seen: list[dict] = []
    for (roots,) in session.execute(select(Scan.roots).where(Scan.kind == "ingest").order_by(Scan.id)):
        for source in roots or []:
            if source not in seen:
                seen.append(source)
    return seen


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of every table (used to prove read-only commands write nothing)."""
    return {
        model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Account, Video, Upload, Frame, Match, Segment, Scan, SoundPrint)
    }


def add_cluster_merges(session: Session, scan_id: int, merges: Iterable[tuple[int, int]]) -> None:
    now = utcnow()
    session.add_all(ClusterMerge(scan_id=scan_id, from_cluster=f, into_cluster=i, merged_at=now) for f, i in merges)


def cluster_merges(session: Session) -> list[tuple[int, int, int]]:
    """(scan_id, from_cluster, into_cluster) of every recorded merge, oldest first."""
    rows = session.execute(
        select(ClusterMerge.scan_id, ClusterMerge.from_cluster, ClusterMerge.into_cluster).order_by(ClusterMerge.id)
    )
    return [(scan_id, from_cluster, into_cluster) for scan_id, from_cluster, into_cluster in rows]
