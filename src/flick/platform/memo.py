"""A process's short memory of values it read from a shared store: feed pages ask for the
same creators and videos again and again, so a value read is reused for about a second
(each caller says until when) instead of being read and decoded once per request."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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
