"""Counters are exact whatever the bus does: any reordering and duplication of like/unlike,
follow/unfollow and comment events, in any batches, gives the counts of applying each
action once, in order (hypothesis generates the histories)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flick.migrations import upgrade_all
from flick.platform.bus import Event, Message
from flick.platform.cache.memory import MemoryCache
from flick.platform.ids import new_id
from flick.platform.sql import Database, ShardMap
from flick.social import repository as repo
from flick.social.consumers import CounterAggregator
from flick.social.events import (
    COMMENT_DELETED,
    COMMENTED,
    FOLLOWED,
    LIKED,
    UNFOLLOWED,
    UNLIKED,
)

USERS, VIDEOS, COMMENTS = 4, 3, 4
DB_FILE = Path(tempfile.mkdtemp(prefix="flick-counters-")) / "flick.db"
_versions = itertools.count(1)

action = st.one_of(
    st.tuples(
        st.just("like"), st.integers(0, USERS - 1), st.integers(0, VIDEOS - 1), st.booleans()
    ),
    st.tuples(
        st.just("follow"), st.integers(0, USERS - 1), st.integers(0, USERS - 1), st.booleans()
    ),
    st.tuples(
        st.just("comment"), st.integers(0, USERS - 1), st.integers(0, COMMENTS - 1), st.booleans()
    ),
)


class World:
    """Fresh ids per example, so every example can share one database file."""

    def __init__(self) -> None:
        self.users = [new_id(shard) for shard in (1, 600, 2, 601)]
        self.videos = [new_id(600) for _ in range(VIDEOS)]  # on the creator's (users[1]) shard
        self.comments = [new_id(600) for _ in range(COMMENTS)]

    def event(self, kind: str, actor: int, target: int, on: bool) -> Event:
        """The event the service would record for this action (with a fresh version)."""
        user, version = self.users[actor], next(_versions)
        base = {"actor_id": str(user), "version": version}
        if kind == "like":
            fields = {"video_id": str(self.videos[target]), "owner_id": str(self.users[1])}
            return Event(LIKED if on else UNLIKED, user, {**base, **fields})
        if kind == "follow":
            return Event(
                FOLLOWED if on else UNFOLLOWED, user, {**base, "user_id": str(self.users[target])}
            )
        fields = {"video_id": str(self.videos[0]), "comment_id": str(self.comments[target])}
        return Event(COMMENTED if on else COMMENT_DELETED, user, {**base, **fields})


def expected_counts(
    world: World, history: list[tuple[str, int, int, bool]]
) -> dict[tuple[int, str], int]:
    """Apply each valid action once, in order, as the services would."""
    likes: dict[int, set[int]] = defaultdict(set)
    follows: set[tuple[int, int]] = set()
    comments: set[int] = set()
    for kind, actor, target, on in history:
        if kind == "like":
            (likes[target].add if on else likes[target].discard)(actor)
        elif kind == "follow" and actor != target:
            (follows.add if on else follows.discard)((actor, target))
        elif kind == "comment":
            (comments.add if on else comments.discard)(target)
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for video, likers in likes.items():
        counts[(world.videos[video], "likes")] += len(likers)
        counts[(world.users[1], "likes")] += len(likers)
    for follower, followee in follows:
        counts[(world.users[followee], "followers")] += 1
        counts[(world.users[follower], "following")] += 1
    counts[(world.videos[0], "comments")] = len(comments)
    return {key: value for key, value in counts.items() if value}


async def apply_and_read(world: World, batches: list[list[Event]]) -> dict[tuple[int, str], int]:
    shard_map = ShardMap.parse(f"0-1023=sqlite:///{DB_FILE}")
    db = Database(shard_map)
    try:
        aggregator = CounterAggregator(db, MemoryCache())
        for number, batch in enumerate(batches):
            await aggregator.handle([Message("interaction", 0, number, e) for e in batch])
        entities = world.users + world.videos
        async with db.read(0) as conn:
            found = await repo.get_counters(conn, entities)
    finally:
        await db.close()
    return {(e, name): v for e, names in found.items() for name, v in names.items() if v}


def setup_module() -> None:
    db = Database(ShardMap.parse(f"0-1023=sqlite:///{DB_FILE}"))

    async def migrate() -> None:
        await upgrade_all(db)
        await db.close()

    asyncio.run(migrate())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(action, max_size=25),
    data=st.data(),
)
def test_any_order_and_duplication_gives_the_in_order_counts(history, data) -> None:  # type: ignore[no-untyped-def]
    world = World()
    events = [
        world.event(kind, actor, target, on)
        for kind, actor, target, on in history
        if not (kind == "follow" and actor == target)  # the service refuses self-follows
    ]
    repeated = events + data.draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    delivered = data.draw(st.permutations(repeated))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(delivered)), max_size=4)))
    batches = [delivered[a:b] for a, b in itertools.pairwise([0, *cuts, len(delivered)])]
    assert asyncio.run(apply_and_read(world, batches)) == expected_counts(world, history)
