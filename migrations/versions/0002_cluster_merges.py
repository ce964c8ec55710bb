"""Record merges of content clusters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("from_cluster", sa.Integer(), nullable=False),
        sa.Column("into_cluster", sa.Integer(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_cluster_merges_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_merges")),
    )
    with op.batch_alter_table("cluster_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_merges_scan_id"), ["scan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cluster_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_merges_scan_id"))
    op.drop_table("cluster_merges")
