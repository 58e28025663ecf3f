"""Keeping this process's search replica current from the bus.

Each replica consumes `video` and `user` in consumer groups of its own from the first offset
(as the recs index replicas do), so every replica sees every event and holds the same index.
A batch is applied and committed at once: a video is searchable well within a second of its
`video.ready` reaching the bus. Upserts and deletes by id are idempotent, so redelivery and
the replay at startup are harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import orjson

from flick.accounts.events import TOPIC as USER
from flick.accounts.service import Accounts
from flick.ingest.events import DELETED, READY
from flick.ingest.events import TOPIC as VIDEO
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.platform.errors import NotFound
from flick.search.index import SearchIndex, UserDoc, VideoDoc
from flick.search.service import Search

log = logging.getLogger(__name__)


class IndexFeeder:
    """Turns `video` and `user` events into index changes."""

    def __init__(self, index: SearchIndex, accounts: Accounts) -> None:
        self.index = index
        self.accounts = accounts
        # Several partitions' batches at once: one commit for them, not one each.
        self._videos = merged_batches(self._apply_videos)
        self._users = merged_batches(self._apply_users)

    async def on_videos(self, messages: Sequence[Message]) -> None:
        await self._videos.submit(messages)

    async def on_users(self, messages: Sequence[Message]) -> None:
        await self._users.submit(messages)

    async def _apply_videos(self, messages: Sequence[Message]) -> None:
        events = [m.event for m in messages if m.event.type in (READY, DELETED)]
        handles = await self._handles({int(e.payload["owner_id"]) for e in events})
        changes = [video_change(event, handles) for event in events]
        if changes:
            await asyncio.to_thread(self.index.put_videos, changes)

    async def _apply_users(self, messages: Sequence[Message]) -> None:
        # Events carry only what changed; the current row says everything, once per user.
        user_ids = list(dict.fromkeys(int(m.event.payload["user_id"]) for m in messages))
        changes = [(user_id, await self._user_doc(user_id)) for user_id in user_ids]
        if changes:
            await asyncio.to_thread(self.index.put_users, changes)

    async def _user_doc(self, user_id: int) -> UserDoc | None:
        try:
            user = await self.accounts.get_user(user_id)
        except NotFound:
            return None
        return UserDoc(user.id, user.username, user.display_name)

    async def _handles(self, user_ids: set[int]) -> dict[int, str]:
        found = {}
        for user_id in user_ids:
            try:
                found[user_id] = orjson.loads(await self.accounts.user_json(user_id))["username"]
            except NotFound:
                found[user_id] = ""
        return found


def video_change(event: Event, handles: dict[int, str]) -> tuple[int, VideoDoc | None]:
    """(video id, what to index: None to remove it) for a `video.ready` or `video.deleted`."""
    p = event.payload
    video_id = int(p["video_id"])
    if event.type != READY:
        return video_id, None
    owner_id = int(p["owner_id"])
    return video_id, VideoDoc(
        video_id,
        owner_id,
        str(p.get("caption", "")),
        [str(tag) for tag in p.get("hashtags", [])],
        handles.get(owner_id, ""),
        float(p.get("created_at") or event.ts),
    )


def search_dir(data_dir: Path) -> Path:
    """Where replicas and the base snapshot live."""
    return data_dir / "search"


async def run_search_replica(
    search: Search, accounts: Accounts, bus: Bus, stop: asyncio.Event, *, data_dir: Path
) -> None:
    """Hold this process's replica, fed from `video` and `user`, until `stop` is set; the
    replica's directory is deleted then."""
    index = await asyncio.to_thread(SearchIndex.replica, search_dir(data_dir))
    search.index = index
    feeder = IndexFeeder(index, accounts)
    group = f"search.index.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        await asyncio.gather(
            run_consumer(bus, VIDEO, group=group, handler=feeder.on_videos, stop=stop),
            run_consumer(bus, USER, group=group, handler=feeder.on_users, stop=stop),
        )
    finally:
        search.index = None
        await asyncio.to_thread(index.close, delete=True)
