"""Videos imported from a partner's fingerprint file name their source; their uploads have no scan.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28 17:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=128), nullable=True))
        batch_op.create_index(batch_op.f("ix_videos_source"), ["source"], unique=False)
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.alter_column("first_seen_scan", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM uploads WHERE first_seen_scan IS NULL")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.alter_column("first_seen_scan", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_videos_source"))
        batch_op.drop_column("source")
