"""The embedded cache: one process, TTL + LRU, with the same semantics as the Redis adapter.

It sits on the hot path of every authenticated request, so operations are plain dict work on
one event loop: no locks, no awaits inside.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from time import monotonic
from urllib.parse import parse_qs, urlparse

from flick.platform.cache import RateDecision, ZRange, spelled_integer
from flick.platform.cache.listeners import Listeners
from flick.platform.cache.sorted_set import SortedSet

SWEEP_EVERY = 10_000  # rate-limit steps between sweeps of the limiters' expired state
# Entries kept before the least recently used go (~0.3 KB each, so ~150 MB when full): the
# 100,000 of before held less than a 100,000-video world's working set (each watched video
# keeps ~36 signal buckets), and pages then read evicted video objects from SQL.
DEFAULT_MAX_ENTRIES = 500_000
# RateDecision(...) runs NamedTuple's Python-level __new__; building the tuple directly halves
# that cost, and gcra runs several times per request.
_new_decision = tuple.__new__


class MemoryCache:
    """In-process cache with TTLs, LRU eviction, counters, sorted sets and GCRA."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[str, object] = OrderedDict()  # bytes | int | SortedSet
        self._expiry: dict[str, float] = {}
        self._listeners = Listeners()
        # Rate-limit state sits apart from the LRU: on the hot path, and an entry whose time
        # has passed is worth nothing, so a sweep (not eviction) bounds it.
        self._tats: dict[str, float] = {}
        self._gcra_calls = 0

    @classmethod
    def from_url(cls, url: str) -> MemoryCache:
        """`memory://` or `memory://?max_entries=N`."""
        query = parse_qs(urlparse(url).query)
        max_entries = int(query.get("max_entries", [str(DEFAULT_MAX_ENTRIES)])[0])
        if max_entries < 1:
            raise ValueError(f"cache URL {url!r}: max_entries must be at least 1")
        return cls(max_entries=max_entries)

    # --- plain values --------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent or expired."""
        return self._bytes(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in the order of `keys` (no await per key: feeds read hundreds a request)."""
        now = monotonic()  # one clock read for the lot; _bytes per key is a third slower
        values, expiry = self._values, self._expiry
        found: list[bytes | None] = []
        for key in keys:
            value = values.get(key)
            if value is not None:
                if expiry.get(key, math.inf) <= now:
                    del values[key], expiry[key]
                    value = None
                else:
                    values.move_to_end(key)
            found.append(
                value if type(value) is bytes else b"%d" % value if type(value) is int else None
            )
        return found

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store a value, expiring after `ttl` seconds if given."""
        self._store(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        """Store several values at once."""
        for key, value in items.items():
            self._store(key, value, ttl)

    async def delete(self, *keys: str) -> int:
        """Remove keys; returns how many existed."""
        removed = 0
        now = monotonic()
        for key in keys:
            live = self._live(key) is not None
            self._values.pop(key, None)
            self._expiry.pop(key, None)
            # A rate-limit key too, as in Redis where its TAT is a plain key: deleting it
            # resets that limiter (after a successful sign-in, say).
            limited = self._tats.pop(key, now) > now
            removed += live or limited
        return removed

    # --- counters ------------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add to an integer counter (absent = 0); returns the new value."""
        return self._incr(key, amount, ttl)

    def _incr(self, key: str, amount: int, ttl: float | None = None) -> int:
        value = _as_counter(key, self._live(key)) + amount
        keep_ttl = self._expiry.get(key) if ttl is None else None
        self._store(key, value, ttl)
        if keep_ttl is not None:  # like Redis INCR: an existing TTL survives
            self._expiry[key] = keep_ttl
        return value

    async def incr_many(self, amounts: Mapping[str, int], *, ttl: float | None = None) -> list[int]:
        """Add to several counters at once; new values in order."""
        # No await between the steps, so no other coroutine sees a partial update.
        return [self._incr(key, amount, ttl) for key, amount in amounts.items()]

    async def spend_many(self, amounts: Mapping[str, int]) -> list[int | None]:
        """Take from budgets (counters), never below 0; one spent to 0 is deleted. What each
        has left, None where there was none (see the port)."""
        now = monotonic()  # one clock read for the lot, as in get_many
        values, expiry = self._values, self._expiry
        left: list[int | None] = []
        for key, amount in amounts.items():
            value = values.get(key)
            if value is not None and expiry.get(key, math.inf) <= now:
                del values[key], expiry[key]
                value = None
            counter = _as_counter(key, value)  # absent: 0
            if counter <= 0:
                left.append(None)
                continue
            if counter > amount:
                values[key] = counter - amount  # keeps its TTL, as INCRBY does
                values.move_to_end(key)
                left.append(counter - amount)
            else:
                del values[key]
                expiry.pop(key, None)
                left.append(0)
        return left

    # --- sorted sets ---------------------------------------------------------------------

    async def zadd(self, key: str, members: Mapping[str, float], *, cap: int | None = None) -> None:
        """Add or rescore members; with `cap`, keep only the `cap` highest scores."""
        if not members:
            return
        zset = self._new_zset(key)
        zset.add(members)
        if cap is not None:
            zset.trim(cap)
        if not zset:  # Redis drops an emptied set; so do we, freeing its LRU slot
            await self.delete(key)

    async def zrem(self, key: str, *members: str) -> int:
        """Remove members; returns how many were there."""
        zset = self._zset(key)
        removed = zset.remove(members) if zset is not None else 0
        if removed and not zset:
            await self.delete(key)
        return removed

    async def zadd_each(
        self, adds: Mapping[str, Mapping[str, float]], *, cap: int | None = None
    ) -> None:
        """`zadd` of its own members to each key."""
        for key, members in adds.items():
            await self.zadd(key, members, cap=cap)

    async def zadd_many(
        self, keys: Sequence[str], members: Mapping[str, float], *, cap: int | None = None
    ) -> None:
        """Add the same members to many sorted sets, each kept to `cap`."""
        for key in keys:
            await self.zadd(key, members, cap=cap)

    async def zrem_many(self, keys: Sequence[str], *members: str) -> None:
        """Remove the same members from many sorted sets."""
        for key in keys:
            await self.zrem(key, *members)

    async def zrange(
        self, key: str, *, max_score: float | None = None, limit: int = 100
    ) -> list[tuple[str, float]]:
        """Members by descending score, starting at `max_score` (inclusive) when given."""
        zset = self._zset(key)
        if limit <= 0 or zset is None:
            return []
        return zset.top(limit, max_score)

    async def zrange_many(self, reads: Sequence[ZRange]) -> list[list[tuple[str, float]]]:
        """`zrange` of each read, in order."""
        return [await self.zrange(r.key, max_score=r.max_score, limit=r.limit) for r in reads]

    async def zcard(self, key: str) -> int:
        """How many members a sorted set has."""
        zset = self._zset(key)
        return 0 if zset is None else len(zset)

    # --- rate limiting -------------------------------------------------------------------

    async def gcra(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        """GCRA with the Redis script's steps (the formula is in redis.py)."""
        now = monotonic()
        interval = 1.0 / rate
        tat = self._tats.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + interval * cost
        # slack = tau - (new_tat - now): allowed iff >= 0; the budget left, in seconds.
        slack = interval * burst - (new_tat - now)
        if slack < 0:
            left = slack / interval + cost + 1e-9  # what max(TAT, now) leaves, in requests
            return _new_decision(RateDecision, (False, -slack, int(left) if left > 0 else 0))
        self._tats[key] = new_tat
        self._gcra_calls += 1
        if self._gcra_calls % SWEEP_EVERY == 0:
            # A TAT in the past means the same as no entry: drop those.
            self._tats = {k: t for k, t in self._tats.items() if t > now}
        return _new_decision(RateDecision, (True, 0.0, int(slack / interval + 1e-9)))

    # --- lifecycle -----------------------------------------------------------------------

    async def publish(self, channel: str, message: bytes) -> None:
        """Hand the message to this process's listeners."""
        self._listeners.deliver(channel, message)

    def listen(self, channel_prefix: str) -> AsyncIterator[tuple[str, bytes]]:
        """Messages published in this process (the embedded cache is one process)."""
        return self._listeners.listen(channel_prefix)

    async def ping(self) -> None:
        """Always reachable: it is this process."""

    async def close(self) -> None:
        """Drop everything."""
        self._values.clear()
        self._expiry.clear()
        self._tats.clear()

    # --- internals -----------------------------------------------------------------------

    def _bytes(self, key: str) -> bytes | None:
        value = self._live(key)
        if type(value) is bytes:
            return value
        if type(value) is int:  # a counter reads as its decimal digits, as in Redis
            return b"%d" % value
        return None

    def _live(self, key: str) -> object | None:
        value = self._values.get(key)
        if value is None:
            return None
        expires = self._expiry.get(key)
        if expires is not None and expires <= monotonic():
            del self._values[key]
            del self._expiry[key]
            return None
        self._values.move_to_end(key)
        return value

    def _store(self, key: str, value: object, ttl: float | None) -> None:
        values, expiry = self._values, self._expiry
        now = monotonic()
        # An expired entry goes when it is read, when eviction reaches it, or here: each write
        # drops the least recently used entry if it has expired. (A sweep of every entry each
        # 10,000 writes stalled the loop for tens of ms at 500,000 entries; the size bound,
        # not the sweep, is what bounds memory.)
        oldest = next(iter(values), None)
        if oldest is not None and expiry.get(oldest, math.inf) <= now:
            del values[oldest], expiry[oldest]
        values[key] = value
        values.move_to_end(key)
        if ttl is None:
            expiry.pop(key, None)
        else:
            expiry[key] = now + ttl
        while len(values) > self.max_entries:
            evicted, _ = values.popitem(last=False)
            expiry.pop(evicted, None)

    def _zset(self, key: str) -> SortedSet | None:
        value = self._live(key)
        if value is None or type(value) is SortedSet:
            return value
        raise TypeError(f"cache key {key!r} does not hold a sorted set")

    def _new_zset(self, key: str) -> SortedSet:
        zset = self._zset(key)
        if zset is None:
            zset = SortedSet()
            self._store(key, zset, None)
        return zset


def _as_counter(key: str, value: object) -> int:
    """The integer a key holds (absent = 0); bytes count when they spell one, as in Redis."""
    if value is None:
        return 0
    if type(value) is int:
        return value
    if type(value) is bytes and (spelled := spelled_integer(value)) is not None:
        return spelled
    raise ValueError(f"cache key {key!r} does not hold an integer")
