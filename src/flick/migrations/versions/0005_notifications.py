"""Notifications, on the recipient's shard.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.BigInteger, nullable=False),
        sa.Column("actor_ids", sa.LargeBinary, nullable=False),
        sa.Column("actor_count", sa.BigInteger, nullable=False),
        sa.Column("group_key", sa.String(64), nullable=True),
        sa.Column("read", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_user_id_group_key", "notifications", ["user_id", "group_key"])


def downgrade() -> None:
    op.drop_table("notifications")
