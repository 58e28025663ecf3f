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

from sqlalchemy.ext.asyncio import AsyncEngine

from flick.ingest.events import DELETED as VIDEO_DELETED
from flick.ingest.events import READY as VIDEO_READY
from flick.ingest.events import TOPIC as VIDEO
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.platform.cache import Cache
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
        self._batches = merged_batches(self._handle)

    async def handle(self, messages: Sequence[Message]) -> None:
        """Apply a batch; batches handed over at once by several partitions are applied
        together (one transaction per database, not one per partition)."""
        await self._batches.submit(messages)

    async def _handle(self, messages: Sequence[Message]) -> None:
        changes = [change for message in messages for change in changes_of(message.event)]
        for engine, part in self.db.by_engine(changes, lambda c: c.entity_id).items():
            moved = await self._apply(engine, part)
            if moved:
                await self.cache.delete(*(counts_key(entity) for entity in moved))

    async def _apply(self, engine: AsyncEngine, changes: list[Change]) -> set[int]:
        """One transaction per database: read the members' states, apply the changes newest
        version last, write back what moved and the summed count changes."""
        keys = list(dict.fromkeys((c.entity_id, c.counter, c.member_id) for c in changes))
        async with self.db.begin(engine) as conn:
            stored = await repo.member_states(conn, keys)
            new, changed, deltas = _fold(changes, stored)
            await repo.put_member_states(conn, new, changed)
            await repo.add_to_counters(conn, deltas)
        return {entity for (entity, _), delta in deltas.items() if delta}


def _fold(
    changes: list[Change], stored: dict[repo.MemberKey, repo.MemberState]
) -> tuple[
    dict[repo.MemberKey, repo.MemberState],
    dict[repo.MemberKey, repo.MemberState],
    dict[tuple[int, str], int],
]:
    """Last writer wins per member: (states to insert, states to update, count changes)."""
    state = dict(stored)
    new: dict[repo.MemberKey, repo.MemberState] = {}
    changed: dict[repo.MemberKey, repo.MemberState] = {}
    deltas: dict[tuple[int, str], int] = defaultdict(int)
    for c in sorted(changes, key=lambda change: change.version):
        key = (c.entity_id, c.counter, c.member_id)
        before = state.get(key)
        if before is not None and c.version <= before[0]:
            continue
        delta = int(c.present) - int(before[1] if before else False)
        state[key] = (c.version, c.present)
        (changed if key in stored else new)[key] = state[key]
        deltas[(c.entity_id, c.counter)] += delta
        if c.also is not None:
            deltas[c.also] += delta
    return new, changed, deltas


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
