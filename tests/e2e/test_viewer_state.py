"""Social.viewer_state (alone, or with counts in Social.page_facts),
Social.all_followee_ids and Social.blocked_pairs remember a viewer's likes, follows and blocks
in the cache; whatever the viewer (or a creator) does between reads, they answer what SQL
says (random histories of likes, unlikes, follows, unfollows, blocks and unblocks, read after
every step)."""

from __future__ import annotations

import random

import httpx
import orjson
import pytest

from flick.bootstrap import Container
from flick.platform.ids import shard_of
from flick.social import repository as repo

from .conftest import ready_video, signup, user_id

CREATORS, VIDEOS_EACH, STEPS = 4, 3, 80


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_remembered_state_always_matches_sql(
    client: httpx.AsyncClient, services: Container, seed: int
) -> None:
    rng = random.Random(seed)
    social = services.social
    viewer = await user_id(client, await signup(client, f"viewer{seed}"))
    creators = [
        await user_id(client, await signup(client, f"maker{seed}x{c}")) for c in range(CREATORS)
    ]
    videos = [
        await ready_video(services, creator, sha256=f"{seed:02x}{c:02x}{n:02x}".ljust(64, "0"))
        for c, creator in enumerate(creators)
        for n in range(VIDEOS_EACH)
    ]
    for step in range(STEPS):
        video, creator = rng.choice(videos), rng.choice(creators)
        action = rng.choice(
            ["like", "unlike", "follow", "unfollow", "block", "unblock", "blocked", "read"]
        )
        if action == "like":
            await social.like(viewer, video)
        elif action == "unlike":
            await social.unlike(viewer, video)
        elif action == "follow" and not await social.blocked_between(viewer, creator):
            await social.follow(viewer, creator)
        elif action == "unfollow":
            await social.unfollow(viewer, creator)
        elif action == "block":
            await social.block(viewer, creator)
        elif action == "unblock":
            await social.unblock(viewer, creator)
        elif action == "blocked":  # the creator blocks the viewer, or lifts it
            if frozenset((creator, viewer)) in await social.blocked_pairs([(creator, viewer)]):
                await social.unblock(creator, viewer)
            else:
                await social.block(creator, viewer)
        asked_videos = rng.sample(videos, rng.randint(1, len(videos)))
        asked_creators = rng.sample(creators, rng.randint(1, len(creators)))
        if step % 2:  # a feed page's one read: the state and the counts together
            (liked, following), counts = await social.page_facts(
                viewer, asked_videos, asked_creators
            )
            decoded = {video: orjson.loads(encoded) for video, encoded in counts.items()}
            assert decoded == await social.video_counts_many(asked_videos), (step, action)
        else:
            liked, following = await social.viewer_state(viewer, asked_videos, asked_creators)
        assert liked == await social.liked_among(viewer, asked_videos), (step, action)
        assert following == await social.following_among(viewer, asked_creators), (step, action)
        followees, _ = await social.followee_ids(viewer, cursor=None, limit=100)
        assert await social.all_followee_ids(viewer, most=100) == followees, (step, action)
        assert await social.all_followee_ids(viewer, most=1) == followees[:1], (step, action)
        pairs = [(viewer, creator) for creator in asked_creators]
        truth = {frozenset(pair) for pair in pairs if await blocked_in_sql(services, *pair)}
        assert await social.blocked_pairs(pairs) == truth, (step, action)
        either_way = {
            creator for creator in asked_creators if frozenset((viewer, creator)) in truth
        }
        assert await social.blocked_with(viewer, asked_creators) == either_way, (step, action)


async def blocked_in_sql(services: Container, a: int, b: int) -> bool:
    for owner, other in ((a, b), (b, a)):
        async with services.db.read(shard_of(owner)) as conn:
            if await repo.has_edge(conn, repo.blocks, owner, other):
                return True
    return False
