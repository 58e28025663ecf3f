"""Every SQL query of the notify domain. Notifications live on the recipient's shard."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    LargeBinary,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.notify.model import Notification, Pending, grouped_actors
from flick.platform.sql import metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject_id", BigInteger, nullable=False),
    Column("actor_ids", LargeBinary, nullable=False),  # JSON list, newest first
    Column("actor_count", BigInteger, nullable=False),
    Column("group_key", String(64), nullable=True),  # set while unread: likes of one video
    Column("read", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_notifications_user_id_id", "user_id", "id"),
    Index("ix_notifications_user_id_group_key", "user_id", "group_key"),
)


def _notification(row: Row[Any]) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        subject_id=row.subject_id,
        actor_ids=orjson.loads(row.actor_ids),
        actor_count=row.actor_count,
        read=row.read,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def store(conn: AsyncConnection, pending: list[Pending], *, now: float) -> list[Notification]:
    """Store notifications, each folded into the unread one of its group where there is one;
    three statements however many there are. Returns them as stored."""
    c = notifications.c
    keys = [(p.user_id, p.group_key) for p in pending if p.group_key is not None]
    found = {}
    if keys:
        query = select(notifications).where(tuple_(c.user_id, c.group_key).in_(keys))
        found = {(row.user_id, row.group_key): row for row in await conn.execute(query)}
    inserts, updates, stored = [], [], []
    for p in pending:
        row = found.get((p.user_id, p.group_key))
        if row is None:
            kept = _fold_actors([], p.actor_ids)
            inserts.append(_new_row(p, kept, now))
            stored.append(_notification_of(inserts[-1], kept))
            continue
        kept = _fold_actors(orjson.loads(row.actor_ids), p.actor_ids)
        count = row.actor_count + len(p.actor_ids)
        updates.append({"i": row.id, "a": orjson.dumps(kept), "n": count, "t": now})
        stored.append(
            _notification_of({**row._asdict(), "actor_count": count, "updated_at": now}, kept)
        )
    if inserts:
        await conn.execute(insert(notifications), inserts)
    if updates:
        statement = (
            update(notifications)
            .where(c.id == bindparam("i"))
            .values(actor_ids=bindparam("a"), actor_count=bindparam("n"), updated_at=bindparam("t"))
        )
        await conn.execute(statement, updates)
    return stored


def _new_row(p: Pending, actor_ids: list[int], now: float) -> dict[str, Any]:
    return {
        "id": p.id,
        "user_id": p.user_id,
        "kind": p.kind,
        "subject_id": p.subject_id,
        "actor_ids": orjson.dumps(actor_ids),
        "actor_count": len(p.actor_ids),
        "group_key": p.group_key,
        "read": False,
        "created_at": now,
        "updated_at": now,
    }


def _fold_actors(kept: list[int], newer: list[int]) -> list[int]:
    for actor in newer:
        kept = grouped_actors(kept, actor)
    return kept


def _notification_of(row: dict[str, Any], actor_ids: list[int]) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        actor_ids=actor_ids,
        actor_count=row["actor_count"],
        read=row["read"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get(conn: AsyncConnection, notification_id: int) -> Notification | None:
    row = (
        await conn.execute(select(notifications).where(notifications.c.id == notification_id))
    ).first()
    return _notification(row) if row else None


async def list_for(
    conn: AsyncConnection, user_id: int, *, before: int | None, limit: int
) -> list[Notification]:
    """A user's notifications, newest first."""
    query = select(notifications).where(notifications.c.user_id == user_id)
    if before is not None:
        query = query.where(notifications.c.id < before)
    rows = await conn.execute(query.order_by(notifications.c.id.desc()).limit(limit))
    return [_notification(row) for row in rows]


async def unread_count(conn: AsyncConnection, user_id: int) -> int:
    found = await conn.execute(
        select(func.count())
        .select_from(notifications)
        .where(notifications.c.user_id == user_id, notifications.c.read.is_(False))
    )
    return int(found.scalar_one())


async def mark_read(conn: AsyncConnection, user_id: int) -> None:
    """Everything read; grouping starts afresh."""
    await conn.execute(
        update(notifications)
        .where(notifications.c.user_id == user_id, notifications.c.read.is_(False))
        .values(read=True, group_key=None)
    )
