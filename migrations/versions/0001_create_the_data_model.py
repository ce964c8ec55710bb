"""Create the data model: accounts, videos, scans, uploads, frames, matches, segments.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 16:44:36.783882

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("platform", "handle", name=op.f("uq_accounts_platform_handle")),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("roots", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('ingest', 'rescan')", name=op.f("ck_scans_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("algorithm_version", sa.Integer(), nullable=False),
        sa.Column("sampled_frames", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('ok', 'failed')", name=op.f("ck_videos_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
        sa.UniqueConstraint("sha256", name=op.f("uq_videos_sha256")),
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_videos_matched_at"), ["matched_at"], unique=False)

    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("ts_s", sa.Float(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_frames_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frames")),
    )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_frames_video_id"), ["video_id"], unique=False)

    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_a_id", sa.Integer(), nullable=False),
        sa.Column("video_b_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("matched_s", sa.Float(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("algorithm_version", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("video_a_id < video_b_id", name=op.f("ck_matches_ordered_pair")),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_matches_scan_id_scans")),
        sa.ForeignKeyConstraint(["video_a_id"], ["videos.id"], name=op.f("fk_matches_video_a_id_videos")),
        sa.ForeignKeyConstraint(["video_b_id"], ["videos.id"], name=op.f("fk_matches_video_b_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
        sa.UniqueConstraint(
            "video_a_id",
            "video_b_id",
            "algorithm_version",
            name=op.f("uq_matches_video_a_id_video_b_id_algorithm_version"),
        ),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matches_video_a_id"), ["video_a_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_video_b_id"), ["video_b_id"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploaded_at_source", sa.String(length=16), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_scan", sa.Integer(), nullable=False),
        sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_uploads_account_id_accounts")),
        sa.ForeignKeyConstraint(["first_seen_scan"], ["scans.id"], name=op.f("fk_uploads_first_seen_scan_scans")),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], name=op.f("fk_uploads_video_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("path", "account_id", name=op.f("uq_uploads_path_account_id")),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_uploads_video_id"), ["video_id"], unique=False)

    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("a_start_s", sa.Float(), nullable=False),
        sa.Column("a_end_s", sa.Float(), nullable=False),
        sa.Column("b_start_s", sa.Float(), nullable=False),
        sa.Column("b_end_s", sa.Float(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"], ["matches.id"], name=op.f("fk_segments_match_id_matches"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segments_match_id"), ["match_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segments_match_id"))

    op.drop_table("segments")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_video_id"))
        batch_op.drop_index(batch_op.f("ix_uploads_account_id"))

    op.drop_table("uploads")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matches_video_b_id"))
        batch_op.drop_index(batch_op.f("ix_matches_video_a_id"))

    op.drop_table("matches")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frames_video_id"))

    op.drop_table("frames")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_videos_matched_at"))

    op.drop_table("videos")
    op.drop_table("scans")
    op.drop_table("accounts")
