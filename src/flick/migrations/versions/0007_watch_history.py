"""Watch history, a wide row per user on the user's shard.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_history",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("video_id", sa.BigInteger, nullable=False),
        sa.Column("watched_ms", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.BigInteger, nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.Column("replays", sa.Integer, nullable=False),
        sa.Column("quick_skip", sa.Boolean, nullable=False),
        sa.Column("watched_at", sa.Float, nullable=False),
    )
    op.create_index("ix_watch_history_user_id_id", "watch_history", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("watch_history")
