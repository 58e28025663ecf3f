"""A process's memory of values it read from a shared store. Feed pages ask for the same
creators and videos again and again: ShortMemo reuses a value read for about a second (each
caller says until when) instead of reading and decoding it per request; DecodeMemo still reads
per request (the store stays the truth) but decodes only bytes that changed."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
S = TypeVar("S")


class ShortMemo(Generic[K, V]):
    """Values by key with the time they stop being fresh; past `max_entries` it starts
    afresh (cheaper than tracking which entry is oldest, and a second refills it)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def fresh(self, keys: Iterable[K], now: float) -> tuple[dict[K, V], list[K]]:
        """(the fresh values among `keys`, the keys without one), in the order of `keys`."""
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
            else:
                missing.append(key)
        return found, missing

    def remember(self, values: Mapping[K, V], until: float) -> None:
        """Keep `values` fresh until the monotonic time `until`."""
        if len(self._entries) + len(values) > self.max_entries:
            self._entries.clear()
        for key, value in values.items():
            self._entries[key] = (until, value)

    def forget(self, key: K) -> None:
        """Drop a value this process knows changed."""
        self._entries.pop(key, None)


class DecodeMemo(Generic[K, S, V]):
    """The value last decoded for each key, with the source it came from: a value read again
    unchanged (a cached list, a viewer's state, a video's counts, re-read on every feed page)
    is not decoded again. Exact, unlike ShortMemo: a changed source is decoded at once.
    Callers share the values, so they must not change them. Past `max_entries` it starts
    afresh."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[S, V]] = {}

    def decoded(self, key: K, source: S, decode: Callable[[S], V]) -> V:
        """`decode(source)`, or the value remembered for `key` if it came from an equal
        source (bytes, or a tuple of all the decoding depends on)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == source:
            return entry[1]
        value = decode(source)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (source, value)
        return value
