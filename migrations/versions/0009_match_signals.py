"""Which signals a match rests on and its kind (copy, same soundtrack); why a video went unmatched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Matches stored before sound was a signal rest on pictures and are copies: the defaults.
    op.add_column("matches", sa.Column("signals", sa.String(length=64), server_default="pictures", nullable=False))
    op.add_column("matches", sa.Column("kind", sa.String(length=32), server_default="copy", nullable=False))
    op.add_column("videos", sa.Column("unmatched_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # The older schema knows copies only: a "same soundtrack" match would read as one.
    op.execute("DELETE FROM segments WHERE match_id IN (SELECT id FROM matches WHERE kind <> 'copy')")
    op.execute("DELETE FROM matches WHERE kind <> 'copy'")
    # Plain DROP COLUMN (SQLite 3.35+): rebuilding the tables would break their foreign keys.
    op.execute("ALTER TABLE videos DROP COLUMN unmatched_reason")
    op.execute("ALTER TABLE matches DROP COLUMN kind")
    op.execute("ALTER TABLE matches DROP COLUMN signals")
