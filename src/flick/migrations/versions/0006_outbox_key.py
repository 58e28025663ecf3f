"""The outbox keeps each event's partition key beside its bytes, so the relay hands encoded
events to the bus without decoding them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this revision have none; the relay decodes those.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("key", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("key")
