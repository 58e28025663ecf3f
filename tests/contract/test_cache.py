"""One suite for the cache port, run on the in-process cache and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from flick.platform.cache import Cache
from flick.platform.cache.memory import MemoryCache
from flick.platform.cache.redis import RedisCache

from ..conftest import REDIS_URL, require_service


@pytest.fixture(params=["memory", "redis"])
async def cache(request) -> AsyncIterator[Cache]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        memory = MemoryCache()
        yield memory
        await memory.close()
        return
    require_service("redis")
    shared = RedisCache.from_url(REDIS_URL, prefix=f"t{uuid.uuid4().hex[:10]}:")
    yield shared
    await shared.clear_prefix()
    await shared.close()


async def test_values_round_trip(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set_many({"b": b"2", "c": b"\x00\xff"})
    assert await cache.get("a") == b"1"
    assert await cache.get_many(["c", "missing", "b"]) == [b"\x00\xff", None, b"2"]
    assert await cache.delete("a", "missing") == 1
    assert await cache.get("a") is None


async def test_values_expire(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=0.15)
    await cache.set_many({"also": b"y"}, ttl=0.15)
    await cache.set("long", b"z", ttl=30)
    assert await cache.get("short") == b"x"
    await asyncio.sleep(0.3)
    assert await cache.get_many(["short", "also", "long"]) == [None, None, b"z"]


async def test_counters_are_atomic_under_concurrency(cache: Cache) -> None:
    await asyncio.gather(*(cache.incr("likes") for _ in range(200)))
    await asyncio.gather(*(cache.incr("likes", 5) for _ in range(20)))
    assert await cache.incr("likes", 0) == 300
    assert await cache.incr_many({"likes": -1, "views": 7}) == [299, 7]
    assert await cache.incr("temp", ttl=0.15) == 1
    await asyncio.sleep(0.3)
    assert await cache.incr("temp") == 1  # expired, so it started again


async def test_sorted_sets_cap_and_range(cache: Cache) -> None:
    await cache.zadd("inbox", {f"v{i}": float(i) for i in range(10)}, cap=5)
    assert await cache.zcard("inbox") == 5
    assert await cache.zrange("inbox", limit=3) == [("v9", 9.0), ("v8", 8.0), ("v7", 7.0)]
    assert await cache.zrange("inbox", max_score=7, limit=10) == [
        ("v7", 7.0),
        ("v6", 6.0),
        ("v5", 5.0),
    ]
    await cache.zadd("inbox", {"v5": 100.0}, cap=5)  # rescoring keeps one entry
    assert (await cache.zrange("inbox", limit=1)) == [("v5", 100.0)]
    assert await cache.zrem("inbox", "v5", "nope") == 1
    assert await cache.zcard("inbox") == 4
    assert await cache.zrange("empty") == []


async def test_gcra_allows_a_burst_then_one_per_interval(cache: Cache) -> None:
    rate, burst = 10.0, 3
    decisions = [await cache.gcra("rl", rate=rate, burst=burst) for _ in range(burst)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = await cache.gcra("rl", rate=rate, burst=burst)
    assert not refused.allowed
    assert 0.05 < refused.retry_after <= 1 / rate + 0.01
    await asyncio.sleep(refused.retry_after + 0.02)
    assert (await cache.gcra("rl", rate=rate, burst=burst)).allowed
    assert not (await cache.gcra("rl", rate=rate, burst=burst)).allowed
    assert (await cache.gcra("other", rate=rate, burst=burst)).allowed  # keys are independent


async def test_redis_limiter_is_shared_between_clients() -> None:
    require_service("redis")
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    first, second = (RedisCache.from_url(REDIS_URL, prefix=prefix) for _ in range(2))
    try:
        allowed = [
            (await (first if i % 2 else second).gcra("rl", rate=0.5, burst=4)).allowed
            for i in range(6)
        ]
        assert allowed == [True, True, True, True, False, False]
    finally:
        await first.clear_prefix()
        await first.close()
        await second.close()


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abc":
        await cache.set(key, key.encode())
    await cache.get("a")  # a is now the most recent
    await cache.set("d", b"d")
    assert await cache.get_many(["a", "b", "c", "d"]) == [b"a", None, b"c", b"d"]
