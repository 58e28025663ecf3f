"""Every SQL query of the recs domain: watch history, a wide row per user on the user's shard
(the article keeps it in Cassandra; a (user_id, id) index gives the same range scans)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.platform.sql import metadata

watch_history = Table(
    "watch_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # snowflake: time order
    Column("user_id", BigInteger, nullable=False),
    Column("video_id", BigInteger, nullable=False),
    Column("watched_ms", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("completed", Boolean, nullable=False),
    Column("replays", Integer, nullable=False),
    Column("quick_skip", Boolean, nullable=False),
    Column("watched_at", Float, nullable=False),
    Index("ix_watch_history_user_id_id", "user_id", "id"),
)


async def add_watches(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Append watches (dicts with every column) in one statement."""
    if rows:
        await conn.execute(insert(watch_history), rows)


async def recent_watches(conn: AsyncConnection, user_id: int, *, limit: int) -> list[Any]:
    """A user's latest watches, newest first."""
    c = watch_history.c
    query = (
        select(c.video_id, c.watched_ms, c.duration_ms, c.watched_at)
        .where(c.user_id == user_id)
        .order_by(c.id.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))


async def watches_after(conn: AsyncConnection, after_id: int, *, limit: int) -> list[Any]:
    """Every watch of one database by id, after `after_id` (training reads them page by page)."""
    c = watch_history.c
    query = select(watch_history).where(c.id > after_id).order_by(c.id).limit(limit)
    return list(await conn.execute(query))
