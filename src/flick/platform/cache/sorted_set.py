"""The in-process cache's sorted set, kept in order as Redis keeps one (a skip list there, a
`sortedcontainers.SortedList` here): a read slices the top of it instead of sorting every
member, and a capped add drops only what falls off the bottom. Feeds read a creator's post
list or a viewer's served set on every assembly; sorting them per read was most of the
Following source's cost."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from sortedcontainers import SortedList


class SortedSet:
    """Members with float scores, ordered by (score, member) like Redis's sorted sets."""

    __slots__ = ("_order", "_scores")

    def __init__(self) -> None:
        self._scores: dict[str, float] = {}
        self._order = SortedList()  # (score, member), ascending

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, members: Mapping[str, float]) -> None:
        """Add or rescore members."""
        scores, order = self._scores, self._order
        for member, score in members.items():
            old = scores.get(member)
            if old is not None:
                if old == score:
                    continue
                order.remove((old, member))
            scores[member] = score
            order.add((score, member))

    def trim(self, cap: int) -> None:
        """Keep the `cap` highest; ties go as in ZREMRANGEBYRANK (lowest member first)."""
        excess = len(self._order) - cap
        if excess > 0:
            for _, member in self._order.islice(0, excess):
                del self._scores[member]
            del self._order[:excess]

    def remove(self, members: Iterable[str]) -> int:
        """Remove members; how many were there."""
        removed = 0
        for member in members:
            score = self._scores.pop(member, None)
            if score is not None:
                self._order.remove((score, member))
                removed += 1
        return removed

    def top(self, limit: int, max_score: float | None = None) -> list[tuple[str, float]]:
        """Up to `limit` (member, score) by descending score (ties: descending member, as
        ZREVRANGEBYSCORE), starting at `max_score` (inclusive) when given."""
        order = self._order
        if max_score is None or max_score == math.inf:
            end = len(order)
        else:  # just past every pair scored at or below max_score, whatever its member
            end = order.bisect_left((math.nextafter(max_score, math.inf), ""))
        return [
            (member, score)
            for score, member in order.islice(max(0, end - limit), end, reverse=True)
        ]
