"""Social: follows and followers edges, blocks, likes, comments, shares.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EDGES = {
    "follows": ("follower_id", "followee_id"),
    "followers": ("followee_id", "follower_id"),
    "blocks": ("blocker_id", "blocked_id"),
    "likes": ("user_id", "video_id"),
}


def upgrade() -> None:
    for name, (owner, other) in EDGES.items():
        op.create_table(
            name,
            sa.Column(owner, sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column(other, sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("edge_id", sa.BigInteger, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
        op.create_index(f"ix_{name}_{owner}_edge_id", name, [owner, "edge_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("video_id", sa.BigInteger, nullable=False),
        sa.Column("author_id", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_comments_video_id_id", "comments", ["video_id", "id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("video_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("shares", "comments", *EDGES):
        op.drop_table(table)
