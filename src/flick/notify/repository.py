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
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.notify.model import Notification, grouped_actors
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


async def add(
    conn: AsyncConnection,
    notification_id: int,
    *,
    user_id: int,
    kind: str,
    subject_id: int,
    actor_id: int,
    group_key: str | None,
    now: float,
) -> int:
    """Store a notification, or fold it into the unread one of the same group; returns the
    id of the row that holds it."""
    if group_key is not None:
        found = (
            await conn.execute(
                select(notifications).where(
                    notifications.c.user_id == user_id, notifications.c.group_key == group_key
                )
            )
        ).first()
        if found is not None:
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == found.id)
                .values(
                    actor_ids=orjson.dumps(grouped_actors(orjson.loads(found.actor_ids), actor_id)),
                    actor_count=found.actor_count + 1,
                    updated_at=now,
                )
            )
            return int(found.id)
    await conn.execute(
        insert(notifications).values(
            id=notification_id,
            user_id=user_id,
            kind=kind,
            subject_id=subject_id,
            actor_ids=orjson.dumps([actor_id]),
            actor_count=1,
            group_key=group_key,
            read=False,
            created_at=now,
            updated_at=now,
        )
    )
    return notification_id


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
