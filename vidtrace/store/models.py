"""The data model (SQLAlchemy 2 typed models). Alembic revisions in `migrations/` create it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "handle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64), default="")
    handle: Mapped[str] = mapped_column(Text)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'failed')", name="status"),
        # A unique index, not a constraint: SQLite adds one without rebuilding the table.
        Index("uq_videos_match_order", "match_order", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(32))
    algorithm_version: Mapped[int] = mapped_column(Integer)
    sampled_frames: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: set once the video has been matched against every video stored before it
    matched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: 1, 2, 3, ... in the order videos were matched (each against every video numbered before it);
    #: assigned under a lock, so concurrent writers agree on which of two videos matched second
    match_order: Mapped[int | None] = mapped_column(BigInteger)
    #: the version of the matching rules it was matched by (`spec.MATCH_VERSION`; None: matched
    #: before versions were recorded, by version 1)
    match_version: Mapped[int | None] = mapped_column(Integer)
    #: None for videos fingerprinted here; the source's name for fingerprints imported from a partner
    source: Mapped[str | None] = mapped_column(String(128), index=True)
    #: why the video was marked matched without being matched (its hits exceeded the memory budget)
    unmatched_reason: Mapped[str | None] = mapped_column(Text)
    #: what its frames add to the frame index's coverage (`vidtrace.store.frame_sums`), written
    #: with them: a store's coverage is read from its videos, not from every frame. None: not
    #: recorded (a video stored before they were), read from its frames instead.
    frame_count: Mapped[int | None] = mapped_column(Integer)
    frame_id_sum: Mapped[int | None] = mapped_column(BigInteger)
    frame_max_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the digest as a signed 64-bit integer (SQL has no unsigned one)
    frame_digest: Mapped[int | None] = mapped_column(BigInteger)


class SoundPrint(Base):
    """A video's soundtrack fingerprint (`vidtrace.sound`): one row per video, no values when the
    video has no audio stream (so a rescan knows it was looked for)."""

    __tablename__ = "sound_prints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), unique=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    algorithm_version: Mapped[int] = mapped_column(Integer)
    #: seconds between consecutive values
    step_s: Mapped[float] = mapped_column(Float)
    value_count: Mapped[int] = mapped_column(Integer)
    #: the values, little-endian uint32 each
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (CheckConstraint("kind IN ('ingest', 'rescan')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: [{"root": "/abs/dir" | null, "manifest": "/abs/file" | null}, ...]
    roots: Mapped[list] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: running, ok, partial (some inputs failed), interrupted
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        UniqueConstraint("path", "account_id"),
        # NULLs are distinct in a unique constraint: uploads without an account need their own.
        Index(
            "uq_uploads_path_without_account",
            "path",
            unique=True,
            sqlite_where=text("account_id IS NULL"),
            postgresql_where=text("account_id IS NULL"),
        ),
        Index("ix_uploads_uploaded_at", "uploaded_at"),
        Index("ix_uploads_account_id_uploaded_at", "account_id", "uploaded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: "manifest" or "file_time": reports never present a file time as a posting time
    uploaded_at_source: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    file_mtime_ns: Mapped[int] = mapped_column(BigInteger)
    #: None for uploads imported from a partner's fingerprint file
    first_seen_scan: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    #: set when a rescan no longer finds the file; uploads are never deleted
    gone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Frame(Base):
    __tablename__ = "frames"
    __table_args__ = (Index("ix_frames_video_id_ts_s", "video_id", "ts_s"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    ts_s: Mapped[float] = mapped_column(Float)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    quality: Mapped[float] = mapped_column(Float)
    #: the part of the frame the hash covers: 0 whole, 1 padding removed, 2 centre 9:16, 3 zoomed in
    region: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("video_a_id", "video_b_id", "algorithm_version"),
        CheckConstraint("video_a_id < video_b_id", name="ordered_pair"),
        Index("ix_matches_score", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_a_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    video_b_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    matched_s: Mapped[float] = mapped_column(Float)
    algorithm: Mapped[str] = mapped_column(String(32))
    algorithm_version: Mapped[int] = mapped_column(Integer)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: the signals whose segments align, comma-separated: "pictures", "sound", "pictures,sound"
    signals: Mapped[str] = mapped_column(String(64), server_default="pictures")
    #: "copy" when the pictures align (the segments are theirs); "same soundtrack" when only the
    #: sound does (a dub, a voice-over reused on other pictures: related content, not a copy)
    kind: Mapped[str] = mapped_column(String(32), server_default="copy")


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (
        Index("uq_segments_match_id_a_start_s_b_start_s", "match_id", "a_start_s", "b_start_s", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    a_start_s: Mapped[float] = mapped_column(Float)
    a_end_s: Mapped[float] = mapped_column(Float)
    b_start_s: Mapped[float] = mapped_column(Float)
    b_end_s: Mapped[float] = mapped_column(Float)
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    frames: Mapped[int] = mapped_column(Integer)
    #: edits that explain the segment, comma-separated (mirrored, padded, cropped, reframed, sped up, slowed down)
    edits: Mapped[str | None] = mapped_column(String(64))


class ClusterMerge(Base):
    """A content cluster absorbed into another by a scan's new matches.

    Cluster ids are derived, not stored: a cluster's id is the smallest video id among its core
    videos, so it keeps its id as it grows; when two clusters merge, the larger id is recorded here.
    """

    __tablename__ = "cluster_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    from_cluster: Mapped[int] = mapped_column(Integer)
    into_cluster: Mapped[int] = mapped_column(Integer)
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
