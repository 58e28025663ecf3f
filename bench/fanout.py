"""Following-feed fan-out on Redis (issue 6): the push side, both policies, and the read.

    .venv/bin/python -m bench.fanout [--followers 1000000] [--reads 500] [--redis URL]

1. Push: one post of an account with `--followers` followers (synthetic ids; no SQL users)
   into every inbox through `InboxStore.push` (the server-side script, 1,000 inboxes per
   call): time until every inbox has it and inbox writes/s, for new inboxes and for existing
   ones; then FanOut's own loop (pages of 1,000 followers, activity markers read with MGET,
   the active pushed; followers come from an in-memory list, not SQL); full inboxes (800,
   each write trims one); and a redis-py pipeline of ZADD + ZREMRANGEBYRANK for comparison.
   Under `classic` the same account is pulled: its post costs one record update (timed).
2. Write amplification and inbox storage per policy for a world of `--accounts` accounts
   with Pareto-distributed follower counts (computed; bytes per entry measured on Redis).
3. Read: `FollowingFeed.page` for a viewer following 2,000 creators (20 above the
   threshold), each with 10 posts over a week, on Redis, per policy. The state is built by
   FanOut's real code; the social graph and the ready-video check are in-memory stand-ins
   (no SQL on the read path: ready owners, blocks; the followee list is read from the cache,
   as Social.all_followee_ids does while the viewer has not followed anyone new).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from flick.feed.consumers import FOLLOWER_PAGE, FanOut
from flick.feed.following import FollowingFeed
from flick.feed.model import POLICIES, Policy, is_pushed
from flick.feed.store import INBOX_CAP, AuthorStore, InboxStore, active_key, inbox_key
from flick.platform.cache.redis import RedisCache
from flick.platform.ids import EPOCH_MS, SEQUENCE_BITS, SHARD_BITS
from flick.social.viewer import decode_followees, encode_followees, followees_key, stamp_key

RESULTS = Path("var/bench/fanout.json")
THRESHOLD = 10_000  # the setting's default
FOLLOWING = 2_000
LARGE_FOLLOWED = 20
POSTS_PER_CREATOR = 10
WEEK_MS = 7 * 86_400_000


def synthetic_id(ms: int, seq: int) -> int:
    return ((ms - EPOCH_MS) << (SHARD_BITS + SEQUENCE_BITS)) | ((seq % 1024) << SEQUENCE_BITS)


def now_ms() -> int:
    return int(time.time() * 1000)


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "mean": round(statistics.mean(ordered) * 1000, 3)}


async def push_side(cache: RedisCache, followers: int) -> dict[str, Any]:
    inboxes = InboxStore(cache)
    users = list(range(1, followers + 1))
    result: dict[str, Any] = {"followers": followers}
    for label, seq in (("new_inboxes", 1), ("existing_inboxes", 2)):
        video = synthetic_id(now_ms(), seq)
        started = time.perf_counter()
        await inboxes.push(users, video)
        took = time.perf_counter() - started
        result[label] = {"seconds": round(took, 3), "writes_per_s": round(followers / took)}
    sample = random.Random(1).sample(users, 1000)
    counts = [await inboxes.size(user) for user in sample]
    result["every_inbox_has_it"] = all(count == 2 for count in counts)
    result["fanout_loop"] = await fanout_loop(cache, users)
    return result


async def fanout_loop(cache: RedisCache, users: list[int]) -> dict[str, Any]:
    """FanOut's loop over pages of followers, all of them active."""
    inboxes = InboxStore(cache)
    for at in range(0, len(users), 10_000):
        await cache.set_many({active_key(u): b"1" for u in users[at : at + 10_000]}, ttl=3600)
    video = synthetic_id(now_ms(), 3)
    started = time.perf_counter()
    for at in range(0, len(users), FOLLOWER_PAGE):
        page = users[at : at + FOLLOWER_PAGE]
        await inboxes.push(sorted(await inboxes.is_active(page)), video)
    took = time.perf_counter() - started
    return {"seconds": round(took, 3), "writes_per_s": round(len(users) / took)}


async def full_inboxes(cache: RedisCache, *, inboxes_n: int = 1000, posts: int = 20) -> dict:
    inboxes = InboxStore(cache)
    users = [10_000_000 + n for n in range(inboxes_n)]
    base = now_ms() - WEEK_MS
    filler = {str(synthetic_id(base + n, n)): float(base + n - EPOCH_MS) for n in range(INBOX_CAP)}
    for user in users:
        await cache.zadd(inbox_key(user), filler, cap=INBOX_CAP)
    started = time.perf_counter()
    for n in range(posts):
        await inboxes.push(users, synthetic_id(now_ms(), 100 + n))
    took = time.perf_counter() - started
    entry_bytes = await cache.client.memory_usage(cache.prefix + inbox_key(users[0]))
    return {
        "writes_per_s": round(inboxes_n * posts / took),
        "all_capped": await inboxes.size(users[-1]) == INBOX_CAP,
        "bytes_per_full_inbox": entry_bytes,
        "bytes_per_entry": round(entry_bytes / INBOX_CAP, 1),
    }


async def pipeline_baseline(cache: RedisCache, *, inboxes_n: int = 100_000) -> dict[str, Any]:
    keys = [cache.prefix + f"pipe:{n}" for n in range(inboxes_n)]
    started = time.perf_counter()
    for at in range(0, len(keys), 1000):
        async with cache.client.pipeline(transaction=False) as pipe:
            for key in keys[at : at + 1000]:
                pipe.zadd(key, {"1": 1.0})
                pipe.zremrangebyrank(key, 0, -(INBOX_CAP + 1))
            await pipe.execute()
    return {"writes_per_s": round(inboxes_n / (time.perf_counter() - started))}


async def pulled_post(cache: RedisCache) -> dict[str, Any]:
    """Classic: the large account is pulled; a post updates its record and list only."""
    authors = AuthorStore(cache)
    await authors.load(42, [])
    samples = []
    for n in range(200):
        started = time.perf_counter()
        await authors.posted(42, synthetic_id(now_ms(), n), pushed=False)
        samples.append(time.perf_counter() - started)
    return {"inbox_writes": 0, "record_update_ms": percentiles_ms(samples)}


def amplification(accounts: int, bytes_per_entry: float, *, seed: int = 0) -> dict[str, Any]:
    """Inbox writes per post and per day, one post per account per day, all followers active
    (skipping inactive ones scales both policies alike)."""
    rng = np.random.default_rng(seed)
    followers = np.minimum((5 * (1 + rng.pareto(1.2, accounts))).astype(np.int64), accounts - 1)
    large = followers >= THRESHOLD
    edges = int(followers.sum())
    table = {}
    for policy in POLICIES:
        pushed = large if policy == "seed" else ~large
        writes = int(followers[pushed].sum())
        table[policy] = {
            "accounts_pushed": int(pushed.sum()),
            "inbox_writes_per_post": round(writes / accounts, 1),
            "inbox_writes_per_day": writes,
            "inbox_bytes_written_per_day": round(writes * bytes_per_entry),
            "pulled_followees_per_reader": round((edges - writes) / accounts, 1),
        }
    return {
        "accounts": accounts,
        "follower_edges": edges,
        "followers_max": int(followers.max()),
        "accounts_over_threshold": int(large.sum()),
        "edges_to_accounts_over_threshold": round(float(followers[large].sum()) / edges, 3),
        "policies": table,
    }


class StandInSocial:
    """The graph of the read bench: one viewer following every creator. The followee list is
    read as Social reads a remembered one: a cache read of the encoded list and its stamp."""

    def __init__(
        self, viewer: int, creators: list[int], large: set[int], cache: RedisCache
    ) -> None:
        self.viewer, self.creators, self.large, self.cache = viewer, creators, large, cache

    async def followee_ids(self, user_id: int, *, cursor: int | None, limit: int) -> Any:
        return list(self.creators), None

    async def all_followee_ids(self, user_id: int, *, most: int) -> list[int]:
        key = followees_key(user_id)
        raw, stamp = await self.cache.get_many([key, stamp_key(user_id)])
        remembered = decode_followees(raw, stamp=stamp)
        if remembered is None:
            await self.cache.set(key, encode_followees(self.creators, stamp, complete=True))
            return list(self.creators)
        return remembered.ids[:most]

    async def follower_ids(self, user_id: int, *, cursor: int | None, limit: int) -> Any:
        return [self.viewer], None

    async def user_counts(self, user_id: int) -> dict[str, int]:
        return {"followers": 50_000 if user_id in self.large else 100}

    async def blocked_with(self, user_id: int, others: Iterable[int]) -> set[int]:
        return set()


class StandInVideos:
    def __init__(self, owners: dict[int, int]) -> None:
        self.owners = owners

    async def ready_owners(self, video_ids: list[int]) -> dict[int, int]:
        return {v: self.owners[v] for v in video_ids if v in self.owners}

    async def recent_ready_ids(self, creator_id: int, *, limit: int) -> list[int]:
        return []


async def read_side(url: str, policy: Policy, reads: int) -> dict[str, Any]:
    cache = RedisCache.from_url(url, prefix=f"bench:feed:{uuid.uuid4().hex[:8]}:")
    try:
        rng = random.Random(7)
        viewer, creators = 1, list(range(1000, 1000 + FOLLOWING))
        large = set(creators[:LARGE_FOLLOWED])
        start = now_ms() - WEEK_MS
        posts = sorted(
            (synthetic_id(start + rng.randrange(WEEK_MS), n), creator)
            for n, creator in enumerate(c for c in creators for _ in range(POSTS_PER_CREATOR))
        )
        social: Any = StandInSocial(viewer, creators, large, cache)
        videos: Any = StandInVideos(dict(posts))
        fanout = FanOut(cache, social, videos, policy=policy, threshold=THRESHOLD)
        feed = FollowingFeed(cache, social, videos)
        await feed.page(viewer, cursor=None, limit=20)  # active, creators known
        for video, creator in posts:
            await fanout.posted(creator, video)
        pushed = sum(
            is_pushed(policy, 50_000 if c in large else 100, threshold=THRESHOLD) for c in creators
        )
        first, deep = [], []
        for _ in range(reads):
            started = time.perf_counter()
            page, cursor = await feed.page(viewer, cursor=None, limit=20)
            first.append(time.perf_counter() - started)
            for _ in range(4):
                started = time.perf_counter()
                page, cursor = await feed.page(viewer, cursor=cursor, limit=20)
                deep.append(time.perf_counter() - started)
        expected = sorted(posts, reverse=True)[80:100]
        return {
            "pushed_creators": pushed,
            "inbox_size": await feed.inboxes.size(viewer),
            "first_page_ms": percentiles_ms(first),
            "pages_2_to_5_ms": percentiles_ms(deep),
            "page_5_correct": page == [v for v, _ in expected],
        }
    finally:
        await cache.clear_prefix()
        await cache.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cache = RedisCache.from_url(args.redis, prefix=f"bench:fanout:{uuid.uuid4().hex[:8]}:")
    try:
        push = await push_side(cache, args.followers)
        await cache.clear_prefix()
        full = await full_inboxes(cache)
        pipe = await pipeline_baseline(cache)
        pulled = await pulled_post(cache)
    finally:
        await cache.clear_prefix()
        await cache.close()
    return {
        "push": {"seed (pushed)": push, "classic (pulled)": pulled},
        "full_inboxes": full,
        "pipeline_baseline": pipe,
        "amplification": amplification(args.accounts, full["bytes_per_entry"]),
        "read": {policy: await read_side(args.redis, policy, args.reads) for policy in POLICIES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    result = {"results": asyncio.run(run(args)), "args": vars(args)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
