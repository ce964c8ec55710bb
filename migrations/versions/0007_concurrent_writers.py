"""Keys for concurrent writers: the order videos were matched in, uploads without an account, segments.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_ACCOUNT = sa.text("account_id IS NULL")


def upgrade() -> None:
    op.add_column("videos", sa.Column("match_order", sa.BigInteger(), nullable=True))
    # Videos matched before this revision keep the order they were matched in.
    videos = sa.table(
        "videos", sa.column("id", sa.Integer), sa.column("matched_at"), sa.column("match_order", sa.BigInteger)
    )
    conn = op.get_bind()
    matched = (
        conn.execute(
            sa.select(videos.c.id).where(videos.c.matched_at.is_not(None)).order_by(videos.c.matched_at, videos.c.id)
        )
        .scalars()
        .all()
    )
    for order, video_id in enumerate(matched, start=1):
        conn.execute(sa.update(videos).where(videos.c.id == video_id).values(match_order=order))
    # Unique indexes rather than constraints: SQLite adds them without rebuilding the tables.
    op.create_index("uq_videos_match_order", "videos", ["match_order"], unique=True)
    op.create_index(
        "uq_uploads_path_without_account", "uploads", ["path"], unique=True,
        sqlite_where=NO_ACCOUNT, postgresql_where=NO_ACCOUNT,
    )  # fmt: skip
    op.create_index(
        "uq_segments_match_id_a_start_s_b_start_s", "segments", ["match_id", "a_start_s", "b_start_s"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_segments_match_id_a_start_s_b_start_s", table_name="segments")
    op.drop_index("uq_uploads_path_without_account", table_name="uploads")
    op.drop_index("uq_videos_match_order", table_name="videos")
    # A plain DROP COLUMN (SQLite 3.35+): rebuilding the table would break its foreign keys.
    op.execute("ALTER TABLE videos DROP COLUMN match_order")
