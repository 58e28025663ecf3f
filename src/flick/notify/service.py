"""Notification use cases: store (deduplicated per event and recipient), list, count, read."""

from __future__ import annotations

import time
from typing import Any

import orjson

from flick.accounts.service import Accounts
from flick.notify import repository as repo
from flick.notify.live import channel_for
from flick.notify.model import Notification
from flick.platform.cache import Cache
from flick.platform.ids import new_id, shard_of
from flick.platform.outbox import first_delivery
from flick.platform.paging import Page, next_cursor, page_limit
from flick.platform.sql import Database
from flick.social.service import Social

CONSUMER = "notify"
VERBS = {
    "like": "liked your video",
    "comment": "commented on your video",
    "follow": "started following you",
    "post": "posted a new video",
}


class Notifications:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(self, db: Database, cache: Cache, accounts: Accounts, social: Social) -> None:
        self.db = db
        self.cache = cache
        self.accounts = accounts
        self.social = social

    async def notify(
        self,
        user_id: int,
        *,
        kind: str,
        subject_id: int,
        actor_id: int,
        event_id: str,
        group_key: str | None = None,
    ) -> bool:
        """Store one notification for `user_id`, once per event, and push it to the user's
        live connections; nothing about oneself or about someone either of the two blocks."""
        if actor_id == user_id or await self.social.blocked_between(user_id, actor_id):
            return False
        async with self.db.transaction(shard_of(user_id)) as conn:
            if not await first_delivery(conn, consumer=CONSUMER, event_id=f"{event_id}:{user_id}"):
                return False
            stored_id = await repo.add(
                conn,
                new_id(shard_of(user_id)),
                user_id=user_id,
                kind=kind,
                subject_id=subject_id,
                actor_id=actor_id,
                group_key=group_key,
                now=time.time(),
            )
            stored = await repo.get(conn, stored_id)
        if stored is not None:
            await self.cache.publish(channel_for(user_id), orjson.dumps(await self._view(stored)))
        return True

    async def list(self, user_id: int, *, cursor: int | None, limit: int) -> Page:
        """The user's notifications, newest first."""
        limit = page_limit(limit)
        async with self.db.read(shard_of(user_id)) as conn:
            found = await repo.list_for(conn, user_id, before=cursor, limit=limit)
        items = [await self._view(n) for n in found]
        return Page(items, next_cursor([n.id for n in found], limit))

    async def unread(self, user_id: int) -> int:
        async with self.db.read(shard_of(user_id)) as conn:
            return await repo.unread_count(conn, user_id)

    async def mark_read(self, user_id: int) -> None:
        async with self.db.transaction(shard_of(user_id)) as conn:
            await repo.mark_read(conn, user_id)

    async def _view(self, notification: Notification) -> dict[str, Any]:
        actors = [orjson.loads(await self.accounts.user_json(a)) for a in notification.actor_ids]
        names = [a["display_name"] or a["username"] for a in actors]
        others = notification.actor_count - 1
        who = f"{names[0]} and {others} other{'s' if others > 1 else ''}" if others else names[0]
        return {
            "id": str(notification.id),
            "kind": notification.kind,
            "subject_id": str(notification.subject_id),
            "actors": [{k: a[k] for k in ("id", "username", "display_name")} for a in actors],
            "actor_count": notification.actor_count,
            "text": f"{who} {VERBS[notification.kind]}",
            "read": notification.read,
            "created_at": notification.created_at,
            "updated_at": notification.updated_at,
        }
