"""What each video's frames add to the frame index's coverage, kept with the video.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 07:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("frame_count", "frame_id_sum", "frame_max_id", "frame_digest")


def upgrade() -> None:
    # Videos stored before keep None: their frames are read instead, and a command that saves
    # the frame index fills their sums in.
    op.add_column("videos", sa.Column("frame_count", sa.Integer(), nullable=True))
    op.add_column("videos", sa.Column("frame_id_sum", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("frame_max_id", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("frame_digest", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): rebuilding the table would break its foreign keys.
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE videos DROP COLUMN {column}")
