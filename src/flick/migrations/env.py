"""Alembic environment: runs on the connection `flick.migrations.upgrade_all` hands it."""

from __future__ import annotations

from alembic import context

import flick.accounts.repository
import flick.platform.outbox  # noqa: F401
from flick.platform.sql import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `flick migrate`, which connects to every shard")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
