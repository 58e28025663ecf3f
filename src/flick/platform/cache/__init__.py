"""The cache port: bytes values with TTLs, atomic counters, capped sorted sets and rate limits.

The embedded adapter lives in this process (TTL + LRU); the Redis adapter is shared by every
process, so anything that must agree across processes (rate limits, sessions, counters) goes
through here. tests/contract/test_cache.py holds both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import NamedTuple, Protocol


class RateDecision(NamedTuple):
    """The answer of a GCRA check (a NamedTuple: it is built on every request)."""

    allowed: bool
    retry_after: float  # seconds until the request would be allowed; 0 when allowed
    remaining: int  # requests left in the current burst


class ZRange(NamedTuple):
    """One read of `Cache.zrange_many`: the arguments `zrange` takes."""

    key: str
    max_score: float | None = None
    limit: int = 100


def spelled_integer(value: bytes) -> int | None:
    """The integer that stored bytes spell, with Redis's strictness (no spaces, '+' signs or
    zero padding), else None: what INCR accepts of a plain value. The embedded adapters share
    it."""
    digits = value[1:] if value.startswith(b"-") else value
    if digits.isdigit() and b"%d" % int(value) == value:
        return int(value)
    return None


class Cache(Protocol):
    """A shared key-value cache."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent or expired."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in the order of `keys`."""
        ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store a value, expiring after `ttl` seconds if given."""
        ...

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        """Store several values at once."""
        ...

    async def delete(self, *keys: str) -> int:
        """Remove keys; returns how many existed."""
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomically add to an integer counter (absent = 0); returns the new value."""
        ...

    async def incr_many(self, amounts: Mapping[str, int], *, ttl: float | None = None) -> list[int]:
        """Atomically add to several counters at once; new values in order. With `ttl`,
        each counter expires that long after this call (time-bucketed counters)."""
        ...

    async def spend_many(self, amounts: Mapping[str, int]) -> list[int | None]:
        """Take `amount` from each counter that holds a budget (a positive count), never
        below 0, atomically; a counter spent to 0 is deleted. What each has left, in order:
        None where there was nothing to spend (absent: nothing is created), 0 for the call
        that spent the last (exactly one caller sees it). A counter keeps its TTL."""
        ...

    async def zadd(self, key: str, members: Mapping[str, float], *, cap: int | None = None) -> None:
        """Add or rescore members; with `cap`, keep only the `cap` highest scores."""
        ...

    async def zrem(self, key: str, *members: str) -> int:
        """Remove members; returns how many were there."""
        ...

    async def zadd_many(
        self, keys: Sequence[str], members: Mapping[str, float], *, cap: int | None = None
    ) -> None:
        """Add the same members to many sorted sets (a fan-out), each kept to `cap`."""
        ...

    async def zrem_many(self, keys: Sequence[str], *members: str) -> None:
        """Remove the same members from many sorted sets."""
        ...

    async def zadd_each(
        self, adds: Mapping[str, Mapping[str, float]], *, cap: int | None = None
    ) -> None:
        """`zadd` of its own members to each key (many requests' writes coalesced into one
        round trip), each set kept to `cap`."""
        ...

    async def zrange(
        self, key: str, *, max_score: float | None = None, limit: int = 100
    ) -> list[tuple[str, float]]:
        """Members by descending score, starting at `max_score` (inclusive) when given."""
        ...

    async def zrange_many(self, reads: Sequence[ZRange]) -> list[list[tuple[str, float]]]:
        """Several `zrange` reads in one round trip (a feed merging many post lists), the
        results in the order of `reads`."""
        ...

    async def zcard(self, key: str) -> int:
        """How many members a sorted set has."""
        ...

    async def gcra(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        """Generic cell rate algorithm, atomic (a script in Redis): `rate` per second on
        average with bursts of up to `burst` requests."""
        ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Send a message to whoever listens on `channel` now (fire and forget: a listener
        that is not connected misses it)."""
        ...

    def listen(self, channel_prefix: str) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, message) for every message published from now on to a channel that
        starts with `channel_prefix`, in every process sharing this cache."""
        ...

    async def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
