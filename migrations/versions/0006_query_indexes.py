"""Indexes for lookup, matches and coordination queries at scale.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 18:35:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_frames_video_id_ts_s", "frames", ["video_id", "ts_s"]),
    ("ix_matches_score", "matches", ["score"]),
    ("ix_uploads_uploaded_at", "uploads", ["uploaded_at"]),
    ("ix_uploads_account_id_uploaded_at", "uploads", ["account_id", "uploaded_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
