"""The in-process cache's sorted set: a dict of scores, and the (score, member) order kept
while it is cheap to keep, so a read slices the top instead of sorting every member.

Feeds read a creator's post list, an inbox or the exploration pool far more often than they
rescore it, and mostly add members scored above the rest (times, new ids): such an add is an
append to the order. A rescore only drops the order (a dict write); the next read sorts once
(C's sort: ~0.2 ms for 2,000 members here). Keeping the order exact through rescores cost
~1.2 µs a member with `bisect`, ~3 µs with sortedcontainers: rescoring the 20 ids of every
page served was ~18 % of a cached page. Capped adds trim exactly, as Redis does."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping


class SortedSet:
    """Members with float scores, ordered by (score, member) like Redis's sorted sets."""

    __slots__ = ("_order", "_scores")

    def __init__(self) -> None:
        self._scores: dict[str, float] = {}
        self._order: list[tuple[float, str]] | None = []  # (score, member) ascending; None: to sort

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, members: Mapping[str, float]) -> None:
        """Add or rescore members."""
        scores, order = self._scores, self._order
        for member, score in members.items():
            old = scores.get(member)
            if old == score:
                continue
            scores[member] = score
            if order is not None:
                item = (score, member)
                if old is None and (not order or item > order[-1]):
                    order.append(item)
                else:
                    order = self._order = None

    def trim(self, cap: int) -> None:
        """Keep the `cap` highest; ties go as in ZREMRANGEBYRANK (lowest member first)."""
        excess = len(self._scores) - cap
        if excess > 0:
            order = self._ordered()
            for _, member in order[:excess]:
                del self._scores[member]
            del order[:excess]

    def remove(self, members: Iterable[str]) -> int:
        """Remove members; how many were there."""
        removed = 0
        for member in members:
            score = self._scores.pop(member, None)
            if score is not None:
                if self._order is not None:
                    del self._order[bisect_left(self._order, (score, member))]
                removed += 1
        return removed

    def top(self, limit: int, max_score: float | None = None) -> list[tuple[str, float]]:
        """Up to `limit` (member, score) by descending score (ties: descending member, as
        ZREVRANGEBYSCORE), starting at `max_score` (inclusive) when given."""
        order = self._ordered()
        if max_score is None or max_score == math.inf:
            end = len(order)
        else:  # just past every pair scored at or below max_score, whatever its member
            end = bisect_left(order, (math.nextafter(max_score, math.inf), ""))
        return [(member, score) for score, member in reversed(order[max(0, end - limit) : end])]

    def _ordered(self) -> list[tuple[float, str]]:
        if self._order is None:
            self._order = sorted(zip(self._scores.values(), self._scores.keys(), strict=True))
        return self._order
