"""The version of the matching rules each video was matched by.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Videos matched before the version was recorded keep None: version 1, matched again by a rescan.
    op.add_column("videos", sa.Column("match_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): rebuilding the table would break its foreign keys.
    op.execute("ALTER TABLE videos DROP COLUMN match_version")
