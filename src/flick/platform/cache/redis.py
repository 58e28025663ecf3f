"""The scale-out cache on Redis: shared by every process, so rate limits, sessions and
counters agree across the cluster. Keys carry an optional prefix, so one Redis can serve
several deployments (and tests can isolate themselves)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis

from flick.platform.batching import GroupCommit
from flick.platform.cache import RateDecision, ZRange

# GCRA (generic cell rate algorithm). Per key we keep TAT, the theoretical arrival time: the
# moment the key's budget is whole again. With emission interval T = 1/rate and tolerance
# tau = T * burst, a request of `cost` at time `now` computes
#     new_tat = max(TAT, now) + T * cost
# and is allowed iff new_tat - tau <= now (equivalently max(TAT, now) - now <= tau - T*cost).
# Allowed: TAT := new_tat (kept with a TTL of new_tat - now: after that it means nothing),
#     retry_after = 0, remaining = floor((tau - (new_tat - now)) / T).
# Refused: nothing changes, retry_after = new_tat - tau - now (when this very request would
#     pass), remaining = floor((tau - (max(TAT, now) - now)) / T).
# A fresh key admits `burst` requests at once, then one per T. The clock is the server's TIME,
# so every process shares one limiter exactly. memory.py implements the same steps in Python.
# One call decides many requests (the checks of concurrent API requests, coalesced), in order:
# a key asked twice sees its first step. ARGV: interval, tolerance, cost per key.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local decisions = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - tolerance
  if allow_at > now then
    local remaining = math.max(0, math.floor((tolerance - (tat - now)) / interval + 1e-9))
    decisions[i] = {0, tostring(allow_at - now), remaining}
  else
    redis.call('SET', key, string.format('%.6f', new_tat), 'PX',
               math.max(1, math.ceil((new_tat - now) * 1000)))
    local remaining = math.max(0, math.floor((tolerance - (new_tat - now)) / interval + 1e-9))
    decisions[i] = {1, '0', remaining}
  end
end
return decisions
"""
# A fan-out: the same members added to every key, each set trimmed to its highest `cap`
# scores. One script call per batch of keys runs server-side without a round trip per key
# (bench/fanout: ~4x a pipeline of ZADD + ZREMRANGEBYRANK). The trim runs only when the ZADD
# added something, so a redelivered fan-out costs one ZADD per key.
# ARGV: cap (0 = none), then score, member pairs.
ZADD_MANY_SCRIPT = """
local cap = tonumber(ARGV[1])
local pairs_ = {unpack(ARGV, 2)}
for _, key in ipairs(KEYS) do
  if redis.call('ZADD', key, unpack(pairs_)) > 0 and cap > 0 then
    redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
  end
end
return #KEYS
"""
# Each key its own members (the served marks of many pages, coalesced), trimmed like
# ZADD_MANY_SCRIPT: one command for them all instead of a MULTI of two commands per key,
# each of which redis-py builds and parses in Python. ARGV: cap (0 = none), then per key
# its member count and score, member pairs. One ZADD takes at most 2,000 pairs (Lua's
# unpack has a limit), so more go in several.
ZADD_EACH_SCRIPT = """
local cap = tonumber(ARGV[1])
local at = 2
for _, key in ipairs(KEYS) do
  local last = at + 2 * tonumber(ARGV[at])
  local added = 0
  for from = at + 1, last, 4000 do
    added = added + redis.call('ZADD', key, unpack(ARGV, from, math.min(last, from + 3999)))
  end
  if added > 0 and cap > 0 then
    redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
  end
  at = last + 1
end
return #KEYS
"""
# Many counters in one command (a batch of pages' exploration impressions, a batch of watch
# buckets), atomic as a MULTI of INCRBYs would be, without a command per key to build and
# parse in Python. ARGV: the TTL in ms (0: keep the key's own), then one amount per key.
INCR_MANY_SCRIPT = """
local ttl = tonumber(ARGV[1])
local values = {}
for i, key in ipairs(KEYS) do
  values[i] = redis.call('INCRBY', key, ARGV[i + 1])
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
end
return values
"""
# Budgets spent in one command (a batch of pages' exploration impressions): each counter
# that holds a positive count loses its amount, never below 0, and is deleted at 0. A missing
# or empty one answers nil (false), the one spent to 0 answers 0. ARGV: one amount per key.
SPEND_MANY_SCRIPT = """
local left = {}
for i, key in ipairs(KEYS) do
  local value = tonumber(redis.call('GET', key) or '0')
  if value <= 0 then
    left[i] = false
  elseif value > tonumber(ARGV[i]) then
    left[i] = redis.call('DECRBY', key, ARGV[i])
  else
    redis.call('DEL', key)
    left[i] = 0
  end
end
return left
"""
ZREM_MANY_SCRIPT = """
for _, key in ipairs(KEYS) do
  redis.call('ZREM', key, unpack(ARGV))
end
return #KEYS
"""
# Many reads of sorted sets in one call (a Following page merges up to a hundred post lists):
# one command to encode and parse instead of one per key. ARGV: max score, count per key.
ZRANGE_MANY_SCRIPT = """
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('ZREVRANGEBYSCORE', key, ARGV[2 * i - 1], '-inf', 'WITHSCORES',
                        'LIMIT', 0, ARGV[2 * i])
end
return found
"""
# Keys per script call: a call blocks Redis while it runs, and 1,000 ZADDs take ~4 ms there.
# (On Redis Cluster every key of one call must hash to one slot: group keys by their tag.)
KEYS_PER_SCRIPT = 1000
SCRIPTS_PER_ROUND_TRIP = 8  # script calls pipelined together, bounding one request's size
SCAN_BATCH = 1000
_GLOB_SPECIAL = re.compile(r"[\\*?\[\]]")
MAX_CONNECTIONS = 64  # per process; Redis itself is single-threaded, more only queue there
# Reads (GET, MGET) and rate-limit steps of concurrent callers are coalesced into one MGET and
# one GCRA call (platform.batching.GroupCommit, as clients such as ioredis auto-pipeline):
# redis-py spends ~100 us of Python on every command it sends, and a cached For You page made
# five such calls, each as its own command, under 64 connections. Callers in a batch at most.
COALESCED_PER_CALL = 128
# Under load (the last call had company), a call waits this long for more: fewer, bigger
# calls. Quick runs of bench.foryou on Redis, cached pages: 0 ms 4,228 req/s (p99 26.3 ms),
# 0.2 ms 4,325 (25.8), 0.5 ms 4,303 and 4,329 (24.5, 24.2), 1 ms 3,300 (29.7). An idle
# process sends at once.
COALESCE_LINGER_S = 0.0005


LISTEN_POLL_S = 1.0  # how long one wait for a published message blocks before looping


class QueueingConnectionPool(aioredis.ConnectionPool):
    """A pool that queues callers when every connection is busy, instead of failing a burst
    of concurrent requests with "Too many connections". redis-py's BlockingConnectionPool
    does the same with a condition and a timeout per checkout: ~12 % of a cached For You
    page's CPU in py-spy (bench.foryou on Redis); with a semaphore, which costs nothing until
    the pool is exhausted, alternating quick runs gave 636 / 583 cache hits/s against 566 /
    571."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._slots = asyncio.Semaphore(max_connections)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """A connected connection, once one of `max_connections` is free."""
        await self._slots.acquire()
        try:
            return await super().get_connection(*args, **kwargs)
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: Any) -> None:
        """Return a connection and free its slot."""
        try:
            await super().release(connection)
        finally:
            self._slots.release()


class QuickSend:
    """A connection mix-in that gets commands out with less Python. A command goes straight
    into the socket's buffer when nothing is waiting there, instead of through redis-py's
    `asyncio.wait_for(send, socket_timeout)`, which starts a task per command (with the read's
    timeout, ~11 % of a cached For You page's CPU in py-spy); replies are still read under
    `socket_timeout`, so a Redis that stops answering still fails the call, and a socket that
    is not taking bytes (a buffer left from the previous send) takes redis-py's own path, with
    its timeout and error handling. Commands are packed by hiredis (`pack_command`)."""

    _writer: asyncio.StreamWriter | None
    health_check_interval: float

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Send pre-packed bytes (redis-py's signature)."""
        writer = self._writer
        if (
            writer is not None
            and not self.health_check_interval
            and isinstance(command, list)
            and not writer.transport.is_closing()
            and writer.transport.get_write_buffer_size() == 0
        ):
            writer.writelines(command)
            return
        await super().send_packed_command(command, check_health)  # type: ignore[misc]

    def pack_command(self, *args: Any) -> list[bytes]:
        """The command in Redis's protocol, packed by hiredis in C as redis-py's own sync
        client does (its asyncio connection packs in Python, copying its buffer once per
        argument: 31 us for an MGET of 60 keys against 3, and ~8x on a GCRA call of a
        thousand steps)."""
        head, *rest = args
        if isinstance(head, str):
            args = (*head.encode().split(), *rest)
        elif b" " in head:
            args = (*head.split(), *rest)
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            # what hiredis does not take (memoryview, bytearray), or redis-py's error
            return super().pack_command(*args)  # type: ignore[misc]


def _with_quick_send(connection_class: type) -> type:
    return type(f"QuickSend{connection_class.__name__}", (QuickSend, connection_class), {})


class RedisCache:
    """Cache port on Redis (redis-py asyncio, hiredis parser)."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix
        self._gcra = client.register_script(GCRA_SCRIPT)
        self._zadd_many = client.register_script(ZADD_MANY_SCRIPT)
        self._zrem_many = client.register_script(ZREM_MANY_SCRIPT)
        self._zadd_each = client.register_script(ZADD_EACH_SCRIPT)
        self._incr_many = client.register_script(INCR_MANY_SCRIPT)
        self._spend_many = client.register_script(SPEND_MANY_SCRIPT)
        self._zrange_many = client.register_script(ZRANGE_MANY_SCRIPT)
        self._reads: GroupCommit[list[str], list[bytes | None]] = GroupCommit(
            self._read_batch, max_batch=COALESCED_PER_CALL, linger_s=COALESCE_LINGER_S
        )
        self._steps: GroupCommit[tuple[str, float, float, int], RateDecision] = GroupCommit(
            self._gcra_batch, max_batch=COALESCED_PER_CALL, linger_s=COALESCE_LINGER_S
        )

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> RedisCache:
        """`redis://host:port/db` (or rediss://, unix://)."""
        pool = QueueingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS)
        pool.connection_class = _with_quick_send(pool.connection_class)
        # from_pool, not Redis(connection_pool=...): only then does close() disconnect the pool.
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix)

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> bytes | None:
        """The value, or None (one MGET with the concurrent callers' reads)."""
        return (await self._reads.submit([self._k(key)]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in the order of `keys` (one MGET with the concurrent callers' reads)."""
        if not keys:
            return []
        return await self._reads.submit([self._k(k) for k in keys])

    async def _read_batch(self, batch: list[list[str]]) -> list[list[bytes | None]]:
        values: list[Any] = await self.client.mget([key for keys in batch for key in keys])
        found, at = [], 0
        for keys in batch:
            found.append(values[at : at + len(keys)])
            at += len(keys)
        return found

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store a value with an optional TTL (millisecond precision)."""
        await self.client.set(self._k(key), value, px=_ms(ttl))

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        """Store several values in one round trip."""
        async with self.client.pipeline(transaction=True) as pipe:
            for key, value in items.items():
                pipe.set(self._k(key), value, px=_ms(ttl))
            await pipe.execute()

    async def delete(self, *keys: str) -> int:
        """Remove keys; how many existed."""
        if not keys:
            return 0
        return int(await self.client.delete(*(self._k(k) for k in keys)))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """INCRBY, with PEXPIRE in the same script call when a TTL is given."""
        if ttl is None:
            return int(await self.client.incrby(self._k(key), amount))
        return (await self.incr_many({key: amount}, ttl=ttl))[0]

    async def incr_many(self, amounts: Mapping[str, int], *, ttl: float | None = None) -> list[int]:
        """Several INCRBYs (each with its PEXPIRE when a TTL is given) in one script call
        (INCR_MANY_SCRIPT), atomic as one MULTI."""
        if not amounts:
            return []
        keys = [self._k(key) for key in amounts]
        values = await self._incr_many(keys=keys, args=[_ms(ttl) or 0, *amounts.values()])
        return [int(value) for value in values]

    async def spend_many(self, amounts: Mapping[str, int]) -> list[int | None]:
        """Budgets spent in one script call (SPEND_MANY_SCRIPT), atomic as one MULTI."""
        if not amounts:
            return []
        keys = [self._k(key) for key in amounts]
        left = await self._spend_many(keys=keys, args=list(amounts.values()))
        return [None if value is None else int(value) for value in left]

    async def zadd(self, key: str, members: Mapping[str, float], *, cap: int | None = None) -> None:
        """ZADD, then trim to the `cap` highest scores, atomically (`zadd_each` of one key)."""
        await self.zadd_each({key: members}, cap=cap)

    async def zrem(self, key: str, *members: str) -> int:
        """ZREM; how many were there."""
        if not members:
            return 0
        return int(await self.client.zrem(self._k(key), *members))

    async def zadd_many(
        self, keys: Sequence[str], members: Mapping[str, float], *, cap: int | None = None
    ) -> None:
        """ZADD (and the trim to `cap`) on every key, in server-side batches."""
        if not members:
            return
        args: list[Any] = [cap or 0]
        for member, score in members.items():
            args += [repr(float(score)), member]
        await self._run_on_batches(self._zadd_many, keys, args)

    async def zadd_each(
        self, adds: Mapping[str, Mapping[str, float]], *, cap: int | None = None
    ) -> None:
        """ZADD (then the trim to `cap`) per key, in one script call per KEYS_PER_SCRIPT
        keys (ZADD_EACH_SCRIPT): each key's change is atomic, as a MULTI would make it."""
        added = [(key, members) for key, members in adds.items() if members]
        # Each score spelled once: a batch of served marks shares one, and hiredis formats a
        # float ~4x slower than it copies a string (1.2 ms for a batch of 2,600 members).
        spelled: dict[float, str] = {}
        for at in range(0, len(added), KEYS_PER_SCRIPT):
            batch = added[at : at + KEYS_PER_SCRIPT]
            args: list[Any] = [cap or 0]
            for _, members in batch:
                args.append(len(members))
                for member, score in members.items():
                    text = spelled.get(score)
                    if text is None:
                        text = spelled[score] = repr(float(score))
                    args += [text, member]
            await self._zadd_each(keys=[self._k(key) for key, _ in batch], args=args)

    async def zrem_many(self, keys: Sequence[str], *members: str) -> None:
        """ZREM on every key, in server-side batches."""
        if members:
            await self._run_on_batches(self._zrem_many, keys, list(members))

    async def _run_on_batches(self, script: Any, keys: Sequence[str], args: list[Any]) -> None:
        batches = [
            [self._k(key) for key in keys[at : at + KEYS_PER_SCRIPT]]
            for at in range(0, len(keys), KEYS_PER_SCRIPT)
        ]
        for at in range(0, len(batches), SCRIPTS_PER_ROUND_TRIP):
            async with self.client.pipeline(transaction=False) as pipe:
                for batch in batches[at : at + SCRIPTS_PER_ROUND_TRIP]:
                    await script(keys=batch, args=args, client=pipe)
                await pipe.execute()

    async def zrange(
        self, key: str, *, max_score: float | None = None, limit: int = 100
    ) -> list[tuple[str, float]]:
        """Members by descending score from `max_score` (inclusive)."""
        if limit <= 0:  # Redis would read a negative LIMIT count as "all"
            return []
        top: Any = "+inf" if max_score is None else repr(float(max_score))
        # The raw command: redis-py's own WITHSCORES reply callback casts every member in
        # Python before this would do it again (a served set holds 2,000). RESP3 answers
        # [member, score] pairs.
        rows: list[Any] = await self.client.execute_command(
            "ZREVRANGEBYSCORE", self._k(key), top, "-inf", "WITHSCORES", "LIMIT", 0, limit
        )
        return [(member.decode(), float(score)) for member, score in rows]

    async def zrange_many(self, reads: Sequence[ZRange]) -> list[list[tuple[str, float]]]:
        """One ZREVRANGEBYSCORE per read inside one script call (per KEYS_PER_SCRIPT)."""
        found: list[list[tuple[str, float]]] = [[] for _ in reads]
        asked = [(at, r) for at, r in enumerate(reads) if r.limit > 0]
        for start in range(0, len(asked), KEYS_PER_SCRIPT):
            batch = asked[start : start + KEYS_PER_SCRIPT]
            args: list[Any] = []
            for _, r in batch:
                args += ["+inf" if r.max_score is None else repr(r.max_score), r.limit]
            keys = [self._k(r.key) for _, r in batch]
            results = await self._zrange_many(keys=keys, args=args)
            for (at, _), flat in zip(batch, results, strict=True):
                found[at] = _pairs(flat)
        return found

    async def zcard(self, key: str) -> int:
        """ZCARD."""
        return int(await self.client.zcard(self._k(key)))

    async def gcra(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        """One atomic GCRA step (see GCRA_SCRIPT), in one script call with the concurrent
        callers' steps."""
        interval = 1.0 / rate
        return await self._steps.submit((self._k(key), interval, interval * burst, cost))

    async def _gcra_batch(self, batch: list[tuple[str, float, float, int]]) -> list[RateDecision]:
        # A batch that fails is retried step by step (GroupCommit), which could charge a step
        # twice had the script failed halfway; the script only fails when Redis does, and a
        # doubled step errs towards refusing.
        args: list[Any] = []
        for _, interval, tolerance, cost in batch:
            args += [repr(interval), repr(tolerance), cost]
        decisions = await self._gcra(keys=[key for key, *_ in batch], args=args)
        return [
            RateDecision(allowed=bool(allowed), retry_after=float(retry), remaining=int(left))
            for allowed, retry, left in decisions
        ]

    async def clear_prefix(self) -> int:
        """Delete every key under this cache's prefix (tests, or retiring a deployment)."""
        if not self.prefix:
            raise ValueError("refusing to clear a Redis cache that has no prefix")
        deleted = 0
        batch: list[bytes] = []
        match = _GLOB_SPECIAL.sub(r"\\\g<0>", self.prefix) + "*"  # the prefix taken literally
        async for key in self.client.scan_iter(match=match, count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                deleted += int(await self.client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(await self.client.delete(*batch))
        return deleted

    async def publish(self, channel: str, message: bytes) -> None:
        """PUBLISH (channels carry the cache's prefix, like keys)."""
        await self.client.publish(self._k(channel), message)

    async def listen(self, channel_prefix: str) -> AsyncIterator[tuple[str, bytes]]:
        """PSUBSCRIBE to `<prefix><channel_prefix>*` on a connection of its own."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pattern = _GLOB_SPECIAL.sub(r"\\\g<0>", self._k(channel_prefix)) + "*"
        await pubsub.psubscribe(pattern)
        try:
            while True:
                message = await pubsub.get_message(timeout=LISTEN_POLL_S)
                if message is not None and message["type"] == "pmessage":
                    channel = message["channel"].decode().removeprefix(self.prefix)
                    yield channel, message["data"]
        finally:
            await pubsub.aclose()

    async def ping(self) -> None:
        """PING."""
        await self.client.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, round(ttl * 1000))


def _pairs(flat: list[bytes]) -> list[tuple[str, float]]:
    """(member, score) pairs of a flat WITHSCORES reply (a script's, in RESP2)."""
    items = iter(flat)
    return [(member.decode(), float(score)) for member, score in zip(items, items, strict=True)]
