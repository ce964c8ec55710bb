"""Sound prints: each video's soundtrack fingerprint (Chromaprint values), one row per video.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sound_prints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("algorithm_version", sa.Integer(), nullable=False),
        sa.Column("step_s", sa.Float(), nullable=False),
        sa.Column("value_count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name="fk_sound_prints_video_id_videos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sound_prints"),
        sa.UniqueConstraint("video_id", name="uq_sound_prints_video_id"),
    )


def downgrade() -> None:
    op.drop_table("sound_prints")
