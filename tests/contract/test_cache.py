"""One suite for the cache port, run on the in-process cache, the shared file cache and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import DataError

from flick.platform.cache import Cache, ZRange
from flick.platform.cache.memory import MemoryCache
from flick.platform.cache.redis import RedisCache
from flick.platform.cache.shared import SharedFileCache

from ..conftest import REDIS_URL, require_service


@pytest.fixture(params=["memory", "shared", "redis"])
async def cache(request, tmp_path) -> AsyncIterator[Cache]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        memory = MemoryCache()
        yield memory
        await memory.close()
        return
    if request.param == "shared":
        shared_file = SharedFileCache(tmp_path / "cache")
        yield shared_file
        await shared_file.close()
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
    totals = await asyncio.gather(*(cache.incr_many({"a": 1, "b": 2}) for _ in range(100)))
    assert sorted(a for a, _ in totals) == list(range(1, 101))  # each saw a distinct state
    assert all(b == 2 * a for a, b in totals)  # and both of its counters in the same one
    assert await cache.incr_many({}) == []


async def test_incr_many_with_a_ttl_expires_every_counter(cache: Cache) -> None:
    assert await cache.incr_many({"m1": 2, "m2": 3}, ttl=0.2) == [2, 3]
    assert await cache.incr_many({"m1": 1}, ttl=0.2) == [3]
    await asyncio.sleep(0.35)
    assert await cache.get_many(["m1", "m2"]) == [None, None]


async def test_spend_many_takes_from_budgets_and_deletes_them_at_zero(cache: Cache) -> None:
    await cache.set("b:plenty", b"10", ttl=60)
    await cache.incr("b:last", 2)
    await cache.set("b:empty", b"0")
    spent = {"b:plenty": 3, "b:last": 5, "b:empty": 1, "b:absent": 1}
    assert await cache.spend_many(spent) == [7, 0, None, None]
    assert await cache.get_many(["b:plenty", "b:last", "b:absent"]) == [b"7", None, None]
    assert await cache.spend_many({"b:last": 1}) == [None]  # nothing is created
    assert await cache.spend_many({}) == []


async def test_spend_many_keeps_the_ttl(cache: Cache) -> None:
    await cache.set("b:short", b"5", ttl=0.2)
    assert await cache.spend_many({"b:short": 1}) == [4]
    await asyncio.sleep(0.35)
    assert await cache.spend_many({"b:short": 1}) == [None]


async def test_exactly_one_concurrent_spender_sees_the_last_spent(cache: Cache) -> None:
    await cache.incr("b:shared", 50)
    answers = await asyncio.gather(*(cache.spend_many({"b:shared": 3}) for _ in range(40)))
    left = [found for (found,) in answers]
    assert left.count(0) == 1
    assert sorted((x for x in left if x), reverse=True) == list(range(47, 0, -3))
    assert left.count(None) == 40 - 1 - len(range(47, 0, -3))


async def test_counters_are_plain_values(cache: Cache) -> None:
    await cache.incr("views", 41)
    assert await cache.get("views") == b"41"
    await cache.set("imported", b"-7")
    assert await cache.incr("imported", 10) == 3


async def test_counter_ttl(cache: Cache) -> None:
    assert await cache.incr("temp", ttl=0.15) == 1
    assert await cache.incr("temp") == 2  # no TTL given: the running one is kept
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
    assert await cache.zrange("inbox", limit=0) == []
    assert await cache.zrange("empty") == []
    assert await cache.zrem("empty", "x") == 0


async def test_many_sorted_set_reads_in_one_call(cache: Cache) -> None:
    await cache.zadd("posts:a", {f"a{i}": float(i) for i in range(6)})
    await cache.zadd("posts:b", {"b1": 1.0, "b9": 9.0})
    reads = [
        ZRange("posts:a", limit=2),
        ZRange("missing"),
        ZRange("posts:b", max_score=5.0),
        ZRange("posts:a", max_score=3.0, limit=10),
        ZRange("posts:b", limit=0),
    ]
    assert await cache.zrange_many(reads) == [
        [("a5", 5.0), ("a4", 4.0)],
        [],
        [("b1", 1.0)],
        [("a3", 3.0), ("a2", 2.0), ("a1", 1.0), ("a0", 0.0)],
        [],
    ]
    assert await cache.zrange_many([]) == []


async def test_sorted_set_cap_breaks_ties_by_member(cache: Cache) -> None:
    await cache.zadd("feed", {"a": 1.0, "b": 1.0, "c": 1.0, "d": 2.0}, cap=2)
    assert await cache.zrange("feed") == [("d", 2.0), ("c", 1.0)]
    await cache.zadd("feed", {"e": 0.5}, cap=2)  # lower than everything kept: dropped
    assert await cache.zrange("feed") == [("d", 2.0), ("c", 1.0)]


async def test_sorted_sets_fan_out_to_many_keys(cache: Cache) -> None:
    keys = [f"inbox:{n}" for n in range(2500)]  # over one server-side batch
    await cache.zadd("inbox:0", {"old1": 1.0, "old2": 2.0})
    await cache.zadd_many(keys, {"new": 5.0}, cap=2)
    await cache.zadd_many(keys, {"new": 5.0}, cap=2)  # again: no change
    assert await cache.zrange("inbox:0") == [("new", 5.0), ("old2", 2.0)]
    assert await cache.zrange("inbox:2499") == [("new", 5.0)]
    await cache.zadd_many(keys, {})
    await cache.zrem_many(keys, "new", "absent")
    assert await cache.zrange("inbox:0") == [("old2", 2.0)]
    assert await cache.zcard("inbox:1234") == 0


async def test_sorted_sets_each_get_their_own_members(cache: Cache) -> None:
    await cache.zadd("served:1", {"a": 1.0, "b": 2.0})
    await cache.zadd_each(
        {"served:1": {"c": 3.0}, "served:2": {"x": 1.0, "y": 5.0, "z": 4.0}, "served:3": {}},
        cap=2,
    )
    assert await cache.zrange("served:1") == [("c", 3.0), ("b", 2.0)]
    assert await cache.zrange("served:2") == [("y", 5.0), ("z", 4.0)]
    assert await cache.zcard("served:3") == 0
    await cache.zadd_each({})
    await cache.zadd_each({"served:2": {"x": 9.0}})  # no cap: nothing trimmed
    assert await cache.zcard("served:2") == 3


async def test_big_sorted_set_writes(cache: Cache) -> None:
    many = {f"m{n:05}": float(n) for n in range(5_000)}  # more than one ZADD of a script takes
    await cache.zadd_each({"big": many, "small": {"x": 1.0}}, cap=4_500)
    assert await cache.zcard("big") == 4_500
    assert (await cache.zrange("big", limit=1))[0] == ("m04999", 4999.0)
    await cache.zadd("whole", many)
    assert await cache.zcard("whole") == 5_000 and await cache.zcard("small") == 1


async def test_emptied_sorted_set_is_gone(cache: Cache) -> None:
    await cache.zadd("one", {"x": 1.0})
    assert await cache.zrem("one", "x") == 1
    assert (await cache.zcard("one"), await cache.delete("one")) == (0, 0)


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


async def test_gcra_cost_spends_several_requests(cache: Cache) -> None:
    whole = await cache.gcra("bulk", rate=10.0, burst=5, cost=5)
    assert (whole.allowed, whole.retry_after, whole.remaining) == (True, 0.0, 0)
    refused = await cache.gcra("bulk", rate=10.0, burst=5, cost=2)
    assert not refused.allowed and refused.remaining == 0
    assert 0.15 < refused.retry_after <= 0.21  # two intervals of 0.1 s must pass


async def test_deleting_a_limiter_key_resets_it(cache: Cache) -> None:
    assert (await cache.gcra("rl:auth", rate=0.1, burst=1)).allowed
    assert not (await cache.gcra("rl:auth", rate=0.1, burst=1)).allowed
    assert await cache.delete("rl:auth") == 1
    assert (await cache.gcra("rl:auth", rate=0.1, burst=1)).allowed


async def test_concurrent_reads_and_limits_each_get_their_own_answer(cache: Cache) -> None:
    # Redis coalesces concurrent calls into one MGET and one GCRA call: every caller must
    # still get its own values, in its own order, and steps of one key must apply in turn.
    await cache.set_many({f"k{n}": str(n).encode() for n in range(30)})
    asks = [[f"k{n}", "missing", f"k{(n * 7) % 30}"] for n in range(30)]
    many, singles = await asyncio.gather(
        asyncio.gather(*(cache.get_many(keys) for keys in asks)),
        asyncio.gather(*(cache.get(f"k{n}") for n in range(30))),
    )
    assert many == [[str(n).encode(), None, str((n * 7) % 30).encode()] for n in range(30)]
    assert singles == [str(n).encode() for n in range(30)]
    steps = await asyncio.gather(
        *(cache.gcra(f"burst{n % 2}", rate=0.5, burst=5) for n in range(20))
    )
    for key in (0, 1):
        mine = steps[key::2]
        assert [d.allowed for d in mine] == [True] * 5 + [False] * 5
        assert [d.remaining for d in mine[:5]] == [4, 3, 2, 1, 0]


async def test_redis_coalesces_concurrent_reads_into_few_calls() -> None:
    require_service("redis")
    redis = RedisCache.from_url(REDIS_URL, prefix=f"t{uuid.uuid4().hex[:10]}:")
    try:
        await redis.set("shared", b"v")
        before = redis._reads.flushes, redis._steps.flushes
        reads = asyncio.gather(*(redis.get("shared") for _ in range(100)))
        steps = asyncio.gather(*(redis.gcra(f"rl{n}", rate=1.0, burst=1) for n in range(100)))
        assert await reads == [b"v"] * 100
        assert all(d.allowed for d in await steps)
        # 100 callers at once: a first call for the first, one more for the rest
        assert redis._reads.flushes - before[0] <= 3
        assert redis._steps.flushes - before[1] <= 3
    finally:
        await redis.clear_prefix()
        await redis.close()


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
    cache = MemoryCache.from_url("memory://?max_entries=3")
    for key in "abc":
        await cache.set(key, key.encode())
    await cache.get("a")  # a is now the most recent
    await cache.set("d", b"d")
    assert await cache.get_many(["a", "b", "c", "d"]) == [b"a", None, b"c", b"d"]


async def test_redis_queues_a_burst_larger_than_its_pool() -> None:
    require_service("redis")
    import redis.asyncio as aioredis

    from flick.platform.cache.redis import QueueingConnectionPool

    pool = QueueingConnectionPool.from_url(REDIS_URL, max_connections=4)
    cache = RedisCache(aioredis.Redis.from_pool(pool), prefix=f"t{uuid.uuid4().hex[:10]}:")
    totals = await asyncio.gather(*(cache.incr("burst") for _ in range(100)))
    assert sorted(totals) == list(range(1, 101))  # nobody was refused "Too many connections"
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 4
    await cache.clear_prefix()
    await cache.close()


async def test_redis_sends_through_the_socket_buffer_and_past_a_full_one() -> None:
    """QuickSend writes a command straight into an empty socket buffer; values far larger
    than the buffer (which fill it, so the next send takes redis-py's own path) and many
    concurrent commands still arrive whole and in order."""
    require_service("redis")
    from flick.platform.cache.redis import QuickSend

    cache = RedisCache.from_url(REDIS_URL, prefix=f"t{uuid.uuid4().hex[:10]}:")
    big = {f"big:{n}": bytes([65 + n]) * (8 << 20) for n in range(3)}  # 24 MB in one call
    await asyncio.gather(cache.set_many(big), *(cache.incr("n") for _ in range(50)))
    assert await cache.get_many(list(big)) == list(big.values())
    assert await cache.get("n") == b"50"
    connection = await cache.client.connection_pool.get_connection()
    assert isinstance(connection, QuickSend)
    await cache.client.connection_pool.release(connection)
    await cache.clear_prefix()
    await cache.close()


def test_redis_commands_pack_as_redis_py_packs_them() -> None:
    from redis.asyncio.connection import Connection

    from flick.platform.cache.redis import _with_quick_send

    ours, theirs = _with_quick_send(Connection)(), Connection()
    for command in (
        ("MGET", "a", "é", "k:1"),
        ("ZADD", "k", 1764000000.1234567, "m", 3, "n"),
        ("SET", "k", b"\x00\xff" * 10_000, "PX", 1000),
        ("SCRIPT LOAD", "return 1"),  # a command name of two words
        ("SET", "k", memoryview(b"view")),  # hiredis takes no memoryview: redis-py packs it
    ):
        assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))
    with pytest.raises(DataError):
        ours.pack_command("SET", "k", None)


async def test_redis_close_releases_its_connections() -> None:
    require_service("redis")
    name = f"flick-test-{uuid.uuid4().hex[:10]}"  # to count only this client's connections
    cache = RedisCache.from_url(f"{REDIS_URL}?client_name={name}", prefix=f"{name}:")
    admin = RedisCache.from_url(REDIS_URL)

    async def connections() -> int:
        return sum(c["name"] == name for c in await admin.client.client_list())

    await asyncio.gather(*(cache.incr("n") for _ in range(20)))  # opens several connections
    assert await connections() > 1
    await cache.clear_prefix()
    await cache.close()
    assert await connections() == 0
    await admin.close()


def test_memory_cache_url() -> None:
    assert MemoryCache.from_url("memory://").max_entries == 500_000  # docs/configuration.md
    assert MemoryCache.from_url("memory://?max_entries=7").max_entries == 7
    with pytest.raises(ValueError):
        MemoryCache.from_url("memory://?max_entries=0")


async def test_published_messages_reach_listeners_of_their_prefix(cache: Cache) -> None:
    received: list[tuple[str, bytes]] = []
    heard = asyncio.Event()

    async def listen() -> None:
        async for message in cache.listen("notify:"):
            received.append(message)
            heard.set()

    listener = asyncio.create_task(listen())
    async with asyncio.timeout(5):
        while not heard.is_set():  # the subscription starts with the iteration: call out
            await cache.publish("notify:0", b"hello?")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.wait(), 0.05)
        await asyncio.sleep(0.1)  # let the last calls arrive before starting afresh
        received.clear()
        heard.clear()
        await cache.publish("other:1", b"not for us")
        await cache.publish("notify:42", b"\x00binary\xff")
        await heard.wait()
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    assert received == [("notify:42", b"\x00binary\xff")]


async def test_memory_cache_drops_expired_entries_as_it_writes() -> None:
    memory = MemoryCache(max_entries=1_000)
    await memory.set_many({f"short{n}": b"x" for n in range(100)}, ttl=0.05)
    await memory.set("kept", b"y")
    await asyncio.sleep(0.1)
    for n in range(120):  # each write drops the oldest entry if it expired
        await memory.set(f"new{n}", b"z")
    assert len(memory._values) == 1 + 120 and await memory.get("kept") == b"y"
