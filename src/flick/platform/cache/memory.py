"""The embedded cache: one process, TTL + LRU, with the same semantics as the Redis adapter.

It sits on the hot path of every authenticated request, so operations are plain dict work on
one event loop: no locks, no awaits inside.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlparse

from flick.platform.cache import RateDecision

SWEEP_EVERY = 10_000  # writes between sweeps of expired entries


class MemoryCache:
    """In-process cache with TTLs, LRU eviction, counters, sorted sets and GCRA."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[str, object] = OrderedDict()  # bytes | int | dict[str, float]
        self._expiry: dict[str, float] = {}
        self._writes = 0
        # Rate-limit state sits apart from the LRU: on the hot path, and an entry whose time
        # has passed is worth nothing, so a sweep (not eviction) bounds it.
        self._tats: dict[str, float] = {}
        self._gcra_calls = 0

    @classmethod
    def from_url(cls, url: str) -> MemoryCache:
        """`memory://` or `memory://?max_entries=N`."""
        query = parse_qs(urlparse(url).query)
        return cls(max_entries=int(query.get("max_entries", ["100000"])[0]))

    # --- plain values --------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent or expired."""
        value = self._live(key)
        return value if isinstance(value, bytes) else None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in the order of `keys`."""
        return [await self.get(key) for key in keys]

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
        for key in keys:
            if self._live(key) is not None:
                removed += 1
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return removed

    # --- counters ------------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add to an integer counter (absent = 0); returns the new value."""
        current = self._live(key)
        if current is not None and not isinstance(current, int):
            raise TypeError(f"cache key {key!r} does not hold a counter")
        value = (current or 0) + amount
        keep_ttl = self._expiry.get(key) if ttl is None else None
        self._store(key, value, ttl)
        if keep_ttl is not None:  # like Redis INCR: an existing TTL survives
            self._expiry[key] = keep_ttl
        return value

    async def incr_many(self, amounts: Mapping[str, int]) -> list[int]:
        """Add to several counters at once; new values in order."""
        return [await self.incr(key, amount) for key, amount in amounts.items()]

    # --- sorted sets ---------------------------------------------------------------------

    async def zadd(self, key: str, members: Mapping[str, float], *, cap: int | None = None) -> None:
        """Add or rescore members; with `cap`, keep only the `cap` highest scores."""
        zset = self._zset(key, create=True)
        zset.update(members)
        if cap is not None and len(zset) > cap:
            keep = heapq.nlargest(cap, zset.items(), key=_score_then_member)
            zset.clear()
            zset.update(keep)

    async def zrem(self, key: str, *members: str) -> int:
        """Remove members; returns how many were there."""
        zset = self._zset(key)
        return sum(zset.pop(member, None) is not None for member in members)

    async def zrange(
        self, key: str, *, max_score: float | None = None, limit: int = 100
    ) -> list[tuple[str, float]]:
        """Members by descending score, starting at `max_score` (inclusive) when given."""
        items = self._zset(key).items()
        if max_score is not None:
            items = [(m, s) for m, s in items if s <= max_score]  # type: ignore[assignment]
        return heapq.nlargest(limit, items, key=_score_then_member)

    async def zcard(self, key: str) -> int:
        """How many members a sorted set has."""
        return len(self._zset(key))

    # --- rate limiting -------------------------------------------------------------------

    async def gcra(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        """GCRA, as the Redis script (see redis.py for the formula)."""
        now = time.monotonic()
        interval = 1.0 / rate
        tolerance = interval * burst  # a fresh key may take `burst` requests at once
        tat = self._tats.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + interval * cost
        if new_tat - tolerance > now:
            left = max(0, math.floor((tolerance - (tat - now)) / interval + 1e-9))
            return RateDecision(False, new_tat - tolerance - now, left)
        self._tats[key] = new_tat
        self._gcra_calls += 1
        if self._gcra_calls % SWEEP_EVERY == 0:
            # A TAT in the past means the same as no entry: drop those.
            self._tats = {k: t for k, t in self._tats.items() if t > now}
        return RateDecision(
            True, 0.0, max(0, math.floor((tolerance - (new_tat - now)) / interval + 1e-9))
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def ping(self) -> None:
        """Always reachable: it is this process."""

    async def close(self) -> None:
        """Drop everything."""
        self._values.clear()
        self._expiry.clear()
        self._tats.clear()

    # --- internals -----------------------------------------------------------------------

    def _live(self, key: str) -> object | None:
        value = self._values.get(key)
        if value is None:
            return None
        expires = self._expiry.get(key)
        if expires is not None and expires <= time.monotonic():
            del self._values[key]
            del self._expiry[key]
            return None
        self._values.move_to_end(key)
        return value

    def _store(self, key: str, value: object, ttl: float | None) -> None:
        self._values[key] = value
        self._values.move_to_end(key)
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = time.monotonic() + ttl
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            self._sweep()
        while len(self._values) > self.max_entries:
            oldest, _ = self._values.popitem(last=False)
            self._expiry.pop(oldest, None)

    def _zset(self, key: str, *, create: bool = False) -> dict[str, float]:
        value = self._live(key)
        if isinstance(value, dict):
            return value
        if value is not None:
            raise TypeError(f"cache key {key!r} does not hold a sorted set")
        zset: dict[str, float] = {}
        if create:
            self._store(key, zset, None)
        return zset

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, expires in self._expiry.items() if expires <= now]:
            self._values.pop(key, None)
            del self._expiry[key]


def _score_then_member(item: tuple[str, float]) -> tuple[float, str]:
    return item[1], item[0]
