"""For You (DESIGN.md section 6): candidates from the two-tower index, the Following inbox,
trending and the exploration pool, ranked (recs.ranker), filtered by the business rules
(nothing the viewer has seen; each source keeps its share of the list, FLICK_FORYOU_MIX; at
most one video per creator in any 5 consecutive items), then cached for FLICK_FORYOU_CACHE_S:
cursor pages read the cached list, and when a list runs out the next is assembled without
what was already served.

A brand-new viewer has no history: the index still answers from the request's context once
a model is trained, and trending and exploration (every new video's test audience) fill the
rest, so the first request gets a feed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from flick.ingest.service import Videos
from flick.platform.batching import GroupCommit
from flick.platform.cache import Cache
from flick.platform.errors import InvalidInput
from flick.platform.ids import timestamp_ms_of
from flick.platform.memo import DecodeMemo
from flick.platform.paging import page_limit
from flick.recs.exploration import Exploration
from flick.recs.ranker import (
    SOURCES,
    Candidate,
    Ranker,
    Source,
    drop_seen,
    mix_sources,
    space_creators,
)
from flick.recs.service import RecentWatch, Watches
from flick.recs.signals import Signals
from flick.social.service import Social

if TYPE_CHECKING:
    from flick.recs.retrieval import Retrieval  # imports torch: only where feeds are served

LIST_LENGTH = 200  # ranked items per assembly: ten pages of 20 before the next assembly
SERVED_KEPT = 2_000  # ids served per viewer remembered, so a new list does not repeat them
SERVED_TTL_S = 7 * 86_400  # a week later, a video may come back
CREATOR_WINDOW = 5  # at most one video per creator in any 5 consecutive items
# Candidates a source offers per slot of its share: room for what the filters drop (seen,
# deleted, blocked) and for the ranker to choose among.
OFFERED_PER_SLOT = 2
LISTS_DECODED = 1_000  # ranked lists kept decoded per process (DecodeMemo)
# Trending candidates are the same for every viewer: read (and scored) once a second per
# process, not once per assembly (~10 % of an assembly's CPU in py-spy).
TRENDING_MEMO_S = 1.0
MIX_HELP = (
    f"sources are {', '.join(SOURCES)}, each given a weight (any scale; one left out gets "
    'none), e.g. "retrieval=60,following=15,trending=15,exploration=10"'
)


@dataclass(frozen=True, slots=True)
class Mix:
    """Each source's share of a ranked list, as weights (`shares()` normalizes them to sum
    1; `mix_sources` holds every prefix of the list to them). Retrieval dominates, as the
    article's For You does; exploration keeps new creators in, though the ranker scores them
    low on purpose. A source with share 0 is not asked for candidates at all."""

    retrieval: float = 60
    following: float = 15
    trending: float = 15
    exploration: float = 10

    def __post_init__(self) -> None:
        for source, weight in self._weights().items():
            if not 0 <= weight < math.inf:
                raise ValueError(
                    f"{source}={weight}: a weight is a finite number, 0 or more; {MIX_HELP}"
                )
        if not any(self._weights().values()):
            raise ValueError(f"every weight is 0, so For You would be empty; {MIX_HELP}")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """`"retrieval=60,following=15,trending=15,exploration=10"` (FLICK_FORYOU_MIX); a
        ValueError that names the valid sources for anything else."""
        weights: dict[str, float] = {}
        for part in filter(None, (part.strip() for part in text.split(","))):
            source, weight = _mix_pair(part)
            if source in weights:
                raise ValueError(f"{source} is given twice; {MIX_HELP}")
            weights[source] = weight
        return cls(**{source: weights.get(source, 0.0) for source in SOURCES})

    def shares(self) -> dict[Source, float]:
        """Each source's fraction of the list (they sum to 1)."""
        total = sum(self._weights().values())
        return {source: weight / total for source, weight in self._weights().items()}

    def offered(self, source: Source) -> int:
        """How many candidates `source` offers per assembly: OFFERED_PER_SLOT per slot."""
        slots = self.shares()[source] * LIST_LENGTH * OFFERED_PER_SLOT
        return math.ceil(round(slots, 6))  # a float error (14.000000000000002) is not a slot

    def _weights(self) -> dict[Source, float]:
        return {source: getattr(self, source) for source in SOURCES}


def _mix_pair(part: str) -> tuple[Source, float]:
    name, equals, value = (side.strip() for side in part.partition("="))
    source = next((source for source in SOURCES if source == name), None)
    if not equals:
        raise ValueError(f"{part!r} is not source=weight; {MIX_HELP}")
    if source is None:
        raise ValueError(f"unknown source {name!r}; {MIX_HELP}")
    try:
        return source, float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: the weight is not a number; {MIX_HELP}") from None


FollowingSource = Callable[[int, int], Awaitable[list[int]]]  # (viewer, n) -> video ids


class ForYou:
    """Built once per process; the index replica arrives when the process starts serving."""

    def __init__(
        self,
        cache: Cache,
        *,
        videos: Videos,
        social: Social,
        watches: Watches,
        signals: Signals,
        exploration: Exploration,
        retrieval: Callable[[], Retrieval | None],
        following: FollowingSource | None = None,
        list_ttl_s: float = 300.0,
        mix: Mix = Mix(),
        ranker: Ranker | None = None,
    ) -> None:
        self.cache = cache
        self.videos, self.social, self.watches = videos, social, watches
        self.signals, self.exploration = signals, exploration
        self.retrieval = retrieval
        self.following = following
        self.list_ttl_s = list_ttl_s
        self.mix = mix
        self.ranker = ranker or Ranker()
        # Concurrent pages mark what they served in one write: the served sets of every
        # viewer in the batch in one round trip, their impressions spent in one more.
        self._served_writes: GroupCommit[tuple[int, Sequence[int]], None] = GroupCommit(
            self._write_served
        )
        self._lists: DecodeMemo[str, bytes, list[int]] = DecodeMemo(LISTS_DECODED)
        self._trending_read: tuple[float, list[int]] | None = None  # (fresh until, ids)

    async def page(
        self, viewer_id: int, *, cursor: str | None, limit: int
    ) -> tuple[list[int], str | None]:
        """A page of video ids and the cursor of the next one (None: nothing left unseen)."""
        limit = page_limit(limit)
        list_id, offset = _parse(cursor)
        ranked = await self._cached(viewer_id, list_id) if list_id else None
        if list_id is None or ranked is None or offset >= len(ranked):
            # First page, an expired list or a finished one: rank afresh, without what was
            # served already (so pages never repeat).
            list_id, ranked, offset = *await self._assemble(viewer_id), 0
        items = ranked[offset : offset + limit]
        await self._served(viewer_id, items)
        return items, f"{list_id}:{offset + limit}" if items else None

    # --- assembly --------------------------------------------------------------------------

    async def _assemble(self, viewer_id: int) -> tuple[str, list[int]]:
        now = time.time()
        watched = await self.watches.recent(viewer_id)  # read once: seen, and the index's query
        seen = await self._seen(viewer_id, watched)
        offered = await self._candidates(viewer_id, seen, watched, now=now)
        rules = [drop_seen(seen), mix_sources(self.mix.shares()), space_creators(CREATOR_WINDOW)]
        ranked = await self.ranker.rank(offered, signals=self.signals, now=now, rules=rules)
        pairs = [(s.candidate.video_id, s.candidate.creator_id) for s in ranked][:LIST_LENGTH]
        # The rule holds across lists too: the last creators served come before this list.
        pairs = _spaced_after(await self._last_creators(viewer_id), pairs)
        await self.cache.set(
            _tail_key(viewer_id), orjson.dumps(pairs[-(CREATOR_WINDOW - 1) :]), ttl=SERVED_TTL_S
        )
        ids = [video_id for video_id, _ in pairs]
        # The viewer's likes and follows for the whole list at once: its pages then hydrate
        # from the cache (Social.viewer_state remembers them until the viewer acts).
        await self.social.viewer_state(viewer_id, ids, [creator for _, creator in pairs])
        list_id = f"{int(now * 1000):x}"
        await self.cache.set(_list_key(viewer_id, list_id), orjson.dumps(ids), ttl=self.list_ttl_s)
        return list_id, ids

    async def _candidates(
        self, viewer_id: int, seen: set[int], watched: list[RecentWatch], *, now: float
    ) -> list[Candidate]:
        sources: list[tuple[Source, list[tuple[int, float | None]]]] = [
            ("retrieval", self._retrieved(viewer_id, watched, now=now)),
            ("following", [(v, None) for v in await self._following(viewer_id)]),
            ("trending", [(v, None) for v in await self._trending()]),
            ("exploration", [(v, None) for v in await self._explored(seen, now=now)]),
        ]
        offered = {}
        for source, found in sources:
            for video_id, score in found:
                if video_id not in seen and video_id not in offered:
                    offered[video_id] = (source, score)
        return await self._visible(viewer_id, offered)

    def _retrieved(
        self, viewer_id: int, watched: list[RecentWatch], *, now: float
    ) -> list[tuple[int, float | None]]:
        retrieval, count = self.retrieval(), self.mix.offered("retrieval")
        if retrieval is None or not count:
            return []
        found = retrieval.candidates(viewer_id, watched, k=count, now=now)
        return [(video_id, score) for video_id, score in found]

    async def _following(self, viewer_id: int) -> list[int]:
        count = self.mix.offered("following")
        if self.following is None or not count:
            return []
        return await self.following(viewer_id, count)

    async def _trending(self) -> list[int]:
        count = self.mix.offered("trending")
        if not count:
            return []
        now = time.monotonic()
        if self._trending_read is None or self._trending_read[0] <= now:
            self._trending_read = (now + TRENDING_MEMO_S, await self.signals.trending(count))
        return self._trending_read[1]

    async def _explored(self, seen: set[int], *, now: float) -> list[int]:
        count = self.mix.offered("exploration")
        return await self.exploration.candidates(count, now=now, exclude=seen) if count else []

    async def _visible(
        self, viewer_id: int, offered: dict[int, tuple[Source, float | None]]
    ) -> list[Candidate]:
        """Candidates whose video is still there and ready, and whose creator and viewer do not
        block each other; creators from the videos' cards (Videos.ready_owners), which the
        list's pages read anyway."""
        owners = await self.videos.ready_owners(list(offered))
        hidden = await self.social.blocked_with(viewer_id, owners.values())
        hidden.add(viewer_id)  # nor the viewer's own videos
        return [
            Candidate(video_id, owner, timestamp_ms_of(video_id) / 1000, score, source)
            for video_id, (source, score) in offered.items()
            if (owner := owners.get(video_id)) is not None and owner not in hidden
        ]

    # --- what the viewer has seen ------------------------------------------------------------

    async def _seen(self, viewer_id: int, watched: list[RecentWatch]) -> set[int]:
        served = await self.cache.zrange(_served_key(viewer_id), limit=SERVED_KEPT)
        return {int(member) for member, _ in served} | {w.video_id for w in watched}

    async def _served(self, viewer_id: int, items: Sequence[int]) -> None:
        if items:
            await self._served_writes.submit((viewer_id, items))

    async def _write_served(self, batch: list[tuple[int, Sequence[int]]]) -> list[None]:
        now = time.time()
        adds: dict[str, dict[str, float]] = {}
        for viewer_id, items in batch:
            adds.setdefault(_served_key(viewer_id), {}).update({str(v): now for v in items})
        await self.cache.zadd_each(adds, cap=SERVED_KEPT)
        await self.exploration.record_impressions([v for _, items in batch for v in items])
        return [None] * len(batch)

    async def _last_creators(self, viewer_id: int) -> list[int]:
        raw = await self.cache.get(_tail_key(viewer_id))
        return [] if raw is None else [creator for _, creator in orjson.loads(raw)]

    async def _cached(self, viewer_id: int, list_id: str) -> list[int] | None:
        key = _list_key(viewer_id, list_id)
        raw = await self.cache.get(key)
        return None if raw is None else self._lists.decoded(key, raw, orjson.loads)


def _list_key(viewer_id: int, list_id: str) -> str:
    return f"fy:list:{viewer_id}:{list_id}"


def _served_key(viewer_id: int) -> str:
    return f"fy:served:{viewer_id}"


def _tail_key(viewer_id: int) -> str:
    return f"fy:tail:{viewer_id}"


def _spaced_after(before: list[int], pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(video, creator) pairs reordered so no creator repeats within CREATOR_WINDOW items,
    counting the creators shown just `before` them; best first wherever the rule allows, and
    what cannot be placed keeps its order at the end."""
    recent, left, placed = list(before[-(CREATOR_WINDOW - 1) :]), list(pairs), []
    while left:
        pick = next((p for p in left if p[1] not in recent), None)
        if pick is None:
            placed += left
            break
        left.remove(pick)
        placed.append(pick)
        recent = [*recent, pick[1]][-(CREATOR_WINDOW - 1) :]
    return placed


def _parse(cursor: str | None) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    list_id, _, offset = cursor.partition(":")
    if not list_id.isalnum() or not offset.isdigit() or len(cursor) > 40:
        raise InvalidInput("the cursor is not one this feed gave out; start again without it")
    return list_id, int(offset)
