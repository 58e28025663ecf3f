"""The Following feed on fakes of the social and ingest services: a small random world of
posts, deletes, follows, unfollows, blocks and readers coming and going, replayed under both
policies, must give every user exactly the feed a brute-force reading of the world gives."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest

from flick.feed.consumers import FanOut
from flick.feed.following import FollowingFeed, pull_plan
from flick.feed.model import POLICIES, Author
from flick.ingest.events import VideoDeleted, VideoReady
from flick.platform.bus import Event
from flick.platform.cache.memory import MemoryCache
from flick.platform.ids import new_id
from flick.social.events import BLOCKED, FOLLOWED, UNFOLLOWED, social_event


class World:
    """The source of truth the fakes answer from (what SQL holds)."""

    def __init__(self) -> None:
        self.follows: dict[int, list[int]] = {}  # follower -> followees, oldest first
        self.blocks: set[frozenset[int]] = set()
        self.videos: dict[int, int] = {}  # ready video -> creator

    def followers(self, user: int) -> list[int]:
        return [f for f, followees in self.follows.items() if user in followees]

    def expected(self, viewer: int) -> list[int]:
        followees = set(self.follows.get(viewer, []))
        return sorted((v for v, c in self.videos.items() if c in followees), reverse=True)

    def expected_newest(self, viewer: int, count: int, per_creator: int) -> list[int]:
        taken: dict[int, int] = {}
        newest = []
        for video in self.expected(viewer):
            creator = self.videos[video]
            if taken.get(creator, 0) < per_creator and len(newest) < count:
                taken[creator] = taken.get(creator, 0) + 1
                newest.append(video)
        return newest


class FakeSocial:
    def __init__(self, world: World) -> None:
        self.world = world

    async def followee_ids(self, user_id: int, *, cursor: int | None, limit: int) -> Any:
        return self.world.follows.get(user_id, [])[::-1], None

    async def all_followee_ids(self, user_id: int, *, most: int) -> list[int]:
        return self.world.follows.get(user_id, [])[::-1][:most]

    async def follower_ids(self, user_id: int, *, cursor: int | None, limit: int) -> Any:
        everyone = self.world.followers(user_id)
        start = cursor or 0
        page = everyone[start : start + limit]
        return page, start + limit if start + limit < len(everyone) else None

    async def user_counts(self, user_id: int) -> dict[str, int]:
        return {"followers": len(self.world.followers(user_id))}

    async def blocked_with(self, user_id: int, others: Iterable[int]) -> set[int]:
        return {other for other in others if frozenset((user_id, other)) in self.world.blocks}


class FakeVideos:
    def __init__(self, world: World) -> None:
        self.world = world

    async def ready_owners(self, video_ids: list[int]) -> dict[int, int]:
        return {v: self.world.videos[v] for v in video_ids if v in self.world.videos}

    async def recent_ready_ids(self, creator_id: int, *, limit: int) -> list[int]:
        mine = [v for v, c in self.world.videos.items() if c == creator_id]
        return sorted(mine, reverse=True)[:limit]


class Flick:
    """One instance: its cache, fan-out and feed over the shared world."""

    def __init__(self, world: World, policy: Any, threshold: int) -> None:
        cache = MemoryCache()
        social: Any = FakeSocial(world)
        videos: Any = FakeVideos(world)
        self.fanout = FanOut(cache, social, videos, policy=policy, threshold=threshold)
        self.feed = FollowingFeed(cache, social, videos)

    async def pages(self, viewer: int, *, limit: int) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            page, cursor = await self.feed.page(viewer, cursor=cursor, limit=limit)
            seen += page
            if cursor is None:
                return seen


def act(world: World, rng: random.Random, users: list[int]) -> Event | None:
    """Change the world at random; the event that change records (None for a read)."""
    roll = rng.random()
    a, b = rng.sample(users, 2)
    if roll < 0.35:
        video = new_id(a % 1024)
        world.videos[video] = a
        return VideoReady(video, a, "", [], 1.0, 0.0).to_event()
    if roll < 0.42 and world.videos:
        video = rng.choice(sorted(world.videos))
        return VideoDeleted(video, world.videos.pop(video)).to_event()
    unblocked = frozenset((a, b)) not in world.blocks
    if roll < 0.75 and unblocked and b not in world.follows.setdefault(a, []):
        world.follows[a].append(b)
        return social_event(FOLLOWED, a, user_id=b)
    if roll < 0.85 and b in world.follows.get(a, []):
        world.follows[a].remove(b)
        return social_event(UNFOLLOWED, a, user_id=b)
    if roll < 0.88:
        world.blocks.add(frozenset((a, b)))
        for x, y in ((a, b), (b, a)):
            if y in world.follows.get(x, []):
                world.follows[x].remove(y)
        return social_event(BLOCKED, a, user_id=b)
    return None


@pytest.mark.parametrize("seed", range(6))
async def test_both_policies_give_the_brute_force_feed(seed: int) -> None:
    rng = random.Random(seed)
    world = World()
    users = list(range(1, 16))
    # Threshold 3: accounts cross it both ways as follows come and go.
    instances = [Flick(world, policy, threshold=3) for policy in POLICIES]
    readers = set(rng.sample(users, 6))  # the others read only at the end: inactive
    for _ in range(300):
        event = act(world, rng, users)
        if event is None:
            viewer = rng.choice(sorted(readers))
            got = [await f.pages(viewer, limit=4) for f in instances]
            assert got[0] == got[1] == world.expected(viewer)
            newest = [await f.feed.newest(viewer, 5, per_creator=2) for f in instances]
            assert newest[0] == newest[1] == world.expected_newest(viewer, 5, 2)
            continue
        for instance in instances:
            await instance.fanout.apply(event)
    for viewer in users:
        expected = world.expected(viewer)
        for instance in instances:
            assert await instance.pages(viewer, limit=3) == expected, viewer


async def test_inactive_followers_are_skipped_and_rebuilt_on_return() -> None:
    world = World()
    world.follows = {1: [9], 2: [9]}
    (flick,) = [Flick(world, "classic", threshold=100)]  # everyone pushed
    await flick.pages(1, limit=5)  # 1 is active now, 2 is not
    video = new_id(9)
    world.videos[video] = 9
    await flick.fanout.apply(VideoReady(video, 9, "", [], 1.0, 0.0).to_event())
    assert await flick.feed.inboxes.read(1, before=None, limit=5) == [video]
    assert await flick.feed.inboxes.size(2) == 0  # skipped
    assert await flick.pages(2, limit=5) == [video]  # rebuilt on the first read
    assert await flick.feed.inboxes.read(2, before=None, limit=5) == [video]


def test_pull_plan_reads_straddling_creators_and_the_newest_below() -> None:
    authors = {1: Author(50, 40), 2: Author(30, 30), 3: Author(20, 10), 4: Author(9, 0)}
    assert pull_plan(authors, before=None, limit=2) == [(1, 41), (2, 31)]
    assert pull_plan(authors, before=35, limit=1) == [(1, 35), (2, 31)]
    assert pull_plan(authors, before=15, limit=5) == [(1, 15), (2, 15), (3, 11)]
