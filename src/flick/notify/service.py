"""Notification use cases: store (deduplicated per event and recipient), list, count, read."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson

from flick.accounts.service import Accounts
from flick.notify import repository as repo
from flick.notify.live import channel_for
from flick.notify.model import Delivery, Notification, Pending
from flick.platform.cache import Cache
from flick.platform.ids import new_id, shard_of
from flick.platform.outbox import first_deliveries
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

    async def deliver(self, deliveries: list[Delivery]) -> int:
        """Store notifications, once per event and recipient, folding grouped ones, and push
        each to its recipient's live connections; nothing about oneself or about someone
        either of the two blocks. Returns how many were stored or folded in."""
        wanted = [d for d in deliveries if d.actor_id != d.user_id]
        blocked = await self.social.blocked_pairs([(d.user_id, d.actor_id) for d in wanted])
        wanted = [d for d in wanted if frozenset((d.user_id, d.actor_id)) not in blocked]
        stored = 0
        for engine, part in self.db.by_engine(wanted, lambda d: d.user_id).items():
            for notification in await self._store(engine, part):
                stored += 1
                view = orjson.dumps(await self._view(notification))
                await self.cache.publish(channel_for(notification.user_id), view)
        return stored

    async def _store(self, engine: Any, deliveries: list[Delivery]) -> list[Notification]:
        now = time.time()
        async with self.db.begin(engine) as conn:
            fresh = await first_deliveries(  # drops events delivered before
                conn, consumer=CONSUMER, event_ids=[d.once_key for d in deliveries]
            )
            pending = _folded(d for d in deliveries if d.once_key in fresh)
            stored = await repo.store(conn, pending, now=now)
        return stored

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


def _folded(deliveries: Iterable[Delivery]) -> list[Pending]:
    """One pending notification per fold key, its actors oldest first; an event repeated
    within the batch counts once."""
    folds: dict[tuple[int, str, int, str], list[Delivery]] = defaultdict(list)
    seen: set[str] = set()
    for delivery in deliveries:
        if delivery.once_key not in seen:
            seen.add(delivery.once_key)
            folds[delivery.fold_key].append(delivery)
    return [
        Pending(
            new_id(shard_of(first.user_id)),
            first.user_id,
            first.kind,
            first.subject_id,
            first.group_key,
            [d.actor_id for d in group],
        )
        for first, group in ((group[0], group) for group in folds.values())
    ]
