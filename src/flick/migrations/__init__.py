"""Alembic migrations, applied to every physical database of the shard map (each holds the
same schema). `flick migrate` calls `upgrade_all`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from flick.platform.sql import Database

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this package, optionally bound to a live connection."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


async def upgrade_all(db: Database, revision: str = "head") -> list[str]:
    """Upgrade every physical database; returns their URLs (passwords hidden)."""
    done = []
    for engine in db.engines:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        done.append(engine.url.render_as_string(hide_password=True))
    return done


async def current_revisions(db: Database) -> dict[str, str | None]:
    """The applied revision of each physical database (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    found: dict[str, str | None] = {}
    for engine in db.engines:
        async with engine.connect() as conn:
            revision = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        found[engine.url.render_as_string(hide_password=True)] = revision
    return found


def head_revision() -> str | None:
    """The newest revision in this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
