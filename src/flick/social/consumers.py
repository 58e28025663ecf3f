"""Counter aggregation: consumes `interaction`, `graph` and `video` and keeps likes, comments
and shares per video, and followers, following, videos and likes received per user
(DESIGN.md section 4: the eventually consistent tier).

Each event becomes membership changes ("user U likes video V as of version n"). A batch from
the bus is grouped by the shard of the counted entity and written in one transaction per
shard: the members' states (last writer wins by version) and the summed count changes
together, so a crash never leaves a count without its reason, and a redelivered, duplicated
or reordered event changes nothing it should not. Counts are read from the cache, refreshed
from SQL when a batch moves them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from flick.ingest.events import DELETED as VIDEO_DELETED
from flick.ingest.events import READY as VIDEO_READY
from flick.ingest.events import TOPIC as VIDEO
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import run_consumer
from flick.platform.cache import Cache
from flick.platform.ids import shard_of
from flick.platform.sql import Database
from flick.social import repository as repo
from flick.social.events import (
    COMMENT_DELETED,
    COMMENTED,
    FOLLOWED,
    GRAPH,
    INTERACTION,
    LIKED,
    SHARED,
    UNFOLLOWED,
    UNLIKED,
)

GROUP = "social.counters"


class Change(NamedTuple):
    """Member `member_id` is (or is not) in the set `counter` of `entity_id` as of `version`;
    `also` is another counter on the same shard that moves with it (a creator's likes)."""

    entity_id: int
    counter: str
    member_id: int
    version: int
    present: bool
    also: tuple[int, str] | None = None


def changes_of(event: Event) -> list[Change]:
    """The membership changes an event stands for (none for events that count nothing)."""
    p = event.payload
    if event.type in (VIDEO_READY, VIDEO_DELETED):
        # Ingest's events carry no version; their time orders them (a delete comes long
        # after the video was ready, and a redelivery has the same time).
        version, present = round(event.ts * 1_000_000), event.type == VIDEO_READY
        return [Change(int(p["owner_id"]), "videos", int(p["video_id"]), version, present)]
    if "actor_id" not in p:
        return []
    actor, version = int(p["actor_id"]), int(p["version"])
    if event.type in (LIKED, UNLIKED):
        also = (int(p["owner_id"]), "likes")  # a video is on its creator's shard
        return [Change(int(p["video_id"]), "likes", actor, version, event.type == LIKED, also)]
    if event.type in (COMMENTED, COMMENT_DELETED):
        present = event.type == COMMENTED
        return [Change(int(p["video_id"]), "comments", int(p["comment_id"]), version, present)]
    if event.type == SHARED:
        return [Change(int(p["video_id"]), "shares", version, version, True)]
    if event.type in (FOLLOWED, UNFOLLOWED):
        followee, present = int(p["user_id"]), event.type == FOLLOWED
        return [
            Change(followee, "followers", actor, version, present),
            Change(actor, "following", followee, version, present),
        ]
    return []


class CounterAggregator:
    """Applies batches of social events to the counters."""

    def __init__(self, db: Database, cache: Cache) -> None:
        self.db = db
        self.cache = cache

    async def handle(self, messages: Sequence[Message]) -> None:
        by_shard: dict[int, list[Change]] = defaultdict(list)
        for message in messages:
            for change in changes_of(message.event):
                by_shard[shard_of(change.entity_id)].append(change)
        for shard, changes in by_shard.items():
            moved = await self._apply(shard, changes)
            if moved:
                await self.cache.delete(*(counts_key(entity) for entity in moved))

    async def _apply(self, shard: int, changes: list[Change]) -> set[int]:
        deltas: dict[tuple[int, str], int] = defaultdict(int)
        async with self.db.transaction(shard) as conn:
            for c in changes:
                delta = await repo.set_member(
                    conn, c.entity_id, c.counter, c.member_id, version=c.version, present=c.present
                )
                deltas[(c.entity_id, c.counter)] += delta
                if c.also is not None:
                    deltas[c.also] += delta
            await repo.add_to_counters(conn, deltas)
        return {entity for (entity, _), delta in deltas.items() if delta}


def counts_key(entity_id: int) -> str:
    return f"counts:{entity_id}"


async def run_counters(aggregator: CounterAggregator, bus: Bus, stop: asyncio.Event) -> None:
    """Consume both topics until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=aggregator.handle, stop=stop)
            for topic in (INTERACTION, GRAPH, VIDEO)
        )
    )
