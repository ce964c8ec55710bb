"""Record how a match is explained: the frame region each hash covers, the edits of each segment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 18:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.SmallInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edits", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("edits")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_column("region")
