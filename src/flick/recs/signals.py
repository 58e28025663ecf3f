"""Real-time signals in the cache (DESIGN.md section 7): per video, views over the last 5
minutes and the last hour, completions, likes, quick skips and the summed watch ratio; per
creator, a 30-day record; a trending list.

Counts go into time buckets (1-minute buckets for the 5-minute window, 10-minute buckets for
the hour) with INCRBY, so any number of consumer processes can add to them at once. Readers
never sum buckets: after each batch the consumer re-reads the buckets of the videos it
touched and stores one small summary per video, so ranking 500 candidates is one `get_many`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice

import orjson

from flick.platform.cache import Cache
from flick.platform.memo import DecodeMemo, ShortMemo
from flick.recs.entities import CreatorSignals, VideoSignals

MINUTE_BUCKETS = 5  # the 5-minute window, in 1-minute buckets
TEN_MINUTE_BUCKETS = 6  # the hour, in 10-minute buckets
SUMMARIES_DECODED = 50_000  # video summaries kept decoded per process (DecodeMemo)
CREATOR_MEMO_S = 1.0  # how long a process reuses a creator's record it read
VIDEO_MEMO_S = 1.0  # and a video's summary: ranking reads ~400 a list, the same every second
CREATORS_MEMO_MAX = 50_000
SUMMARY_TTL_S = 70 * 60  # a video nobody watched for an hour has no signals left
CREATOR_TTL_S = 30 * 86_400  # a creator's record covers the last month of activity
TRENDING_KEY = "sig:trending"
TRENDING_KEPT = 1_000  # candidates for the trending list; For You takes a few dozen
MAX_RATIO = 2.0  # a video left looping adds at most two views' worth of watch ratio
FIELDS = ("views", "completions", "likes", "skips", "ratio_milli")


@dataclass(frozen=True, slots=True)
class Observation:
    """One counted thing a viewer did with a video at time `ts`."""

    video_id: int
    creator_id: int
    ts: float
    views: int = 0
    completions: int = 0
    likes: int = 0
    skips: int = 0
    watch_ratio: float = 0.0


class Signals:
    """Writes (for the `recs.signals` consumer) and reads (for ranking and exploration)."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        # Summaries as decoded, by video: ranking re-reads the same few thousand every second.
        self._summaries: DecodeMemo[int, tuple[int, bytes], tuple[float, VideoSignals]] = (
            DecodeMemo(SUMMARIES_DECODED)
        )
        self._creators: ShortMemo[int, CreatorSignals] = ShortMemo(CREATORS_MEMO_MAX)
        self._videos: ShortMemo[int, tuple[float, VideoSignals] | None] = ShortMemo(
            SUMMARIES_DECODED
        )

    # --- writing ---------------------------------------------------------------------------

    async def add(self, observations: Iterable[Observation], *, now: float | None = None) -> None:
        """Count a batch of observations, then refresh the touched videos' summaries."""
        now = time.time() if now is None else now
        await self.refresh(sorted(await self.count(observations, now=now)), now=now)

    async def count(self, observations: Iterable[Observation], *, now: float) -> set[int]:
        """Add a batch of observations to the buckets (not yet to the summaries readers
        see: `refresh` does that); the ids of the videos they touched."""
        fresh = [o for o in observations if now - 3600 < o.ts <= now + 60]
        if not fresh:
            return set()
        await self.cache.incr_many(_bucket_deltas(fresh, minute=True), ttl=6 * 60)
        await self.cache.incr_many(_bucket_deltas(fresh, minute=False), ttl=SUMMARY_TTL_S)
        await self.cache.incr_many(_creator_deltas(fresh), ttl=CREATOR_TTL_S)
        for creator_id in {o.creator_id for o in fresh}:
            self._creators.forget(creator_id)  # this process's readers see the change at once
        return {o.video_id for o in fresh}

    async def refresh(self, video_ids: Sequence[int], *, now: float) -> None:
        """Recompute the summaries of these videos from their buckets."""
        if not video_ids:
            return
        keys = [key for video_id in video_ids for key in _window_keys(video_id, now)]
        values = [int(value or 0) for value in await self.cache.get_many(keys)]
        summaries, trending = {}, {}
        for i, video_id in enumerate(video_ids):
            signals = _signals_of(video_id, values[i * _KEYS_PER_VIDEO :][:_KEYS_PER_VIDEO])
            summaries[_summary_key(video_id)] = _encode(signals, now)
            trending[str(video_id)] = signals.trending
        await self.cache.set_many(summaries, ttl=SUMMARY_TTL_S)
        for video_id in video_ids:
            self._videos.forget(video_id)  # this process's readers see the change at once
        await self.cache.zadd(TRENDING_KEY, trending, cap=TRENDING_KEPT)

    # --- reading ---------------------------------------------------------------------------

    async def videos(
        self, video_ids: Sequence[int], *, now: float | None = None
    ) -> dict[int, VideoSignals]:
        """Each video's signals (zeros for a video nobody watched lately). A summary read
        within VIDEO_MEMO_S comes from this process's memo (the process that refreshes one
        forgets it at once)."""
        now = time.time() if now is None else now
        clock = time.monotonic()
        remembered, unread = self._videos.fresh(video_ids, clock)
        if unread:
            found = await self.cache.get_many([_summary_key(v) for v in unread])
            read = {
                video_id: None
                if raw is None
                else self._summaries.decoded(video_id, (video_id, raw), _decode)
                for video_id, raw in zip(unread, found, strict=True)
            }
            self._videos.remember(read, clock + VIDEO_MEMO_S)
            remembered |= read
        signals = {}
        for video_id in video_ids:
            entry = remembered[video_id]
            if entry is None:
                signals[video_id] = VideoSignals(video_id)
                continue
            at, summary = entry
            if summary.views_5m and now - at > MINUTE_BUCKETS * 60:
                summary = replace(summary, views_5m=0)  # nothing refreshed it for 5 minutes
            signals[video_id] = summary
        return signals

    async def creators(self, creator_ids: Sequence[int]) -> dict[int, CreatorSignals]:
        """Each creator's 30-day record (zeros for a new creator). A record read within
        CREATOR_MEMO_S comes from this process's memo: a month's record hardly moves in a
        second, and ranking a list reads hundreds of them (three counters each)."""
        now = time.monotonic()
        found, unread = self._creators.fresh(creator_ids, now)
        if unread:
            keys = [_creator_key(c, field) for c in unread for field in _CREATOR_FIELDS]
            values = iter([int(value or 0) for value in await self.cache.get_many(keys)])
            width = len(_CREATOR_FIELDS)
            read = {c: CreatorSignals(c, *islice(values, width)) for c in unread}
            self._creators.remember(read, now + CREATOR_MEMO_S)
            found |= read
        return found

    async def trending(self, count: int, *, now: float | None = None) -> list[int]:
        """The `count` videos with the highest trending score now (stale entries re-scored)."""
        listed = await self.cache.zrange(TRENDING_KEY, limit=count * 3)
        ids = [int(member) for member, _ in listed]
        current = await self.videos(ids, now=now)
        ranked = sorted(ids, key=lambda v: (-current[v].trending, v))
        return [v for v in ranked if current[v].trending > 0][:count]


_CREATOR_FIELDS = ("views", "completions", "likes")
_KEYS_PER_VIDEO = MINUTE_BUCKETS + TEN_MINUTE_BUCKETS * len(FIELDS)


def _summary_key(video_id: int) -> str:
    return f"sig:v:{video_id}"


def _creator_key(creator_id: int, field: str) -> str:
    return f"sig:c:{creator_id}:{field}"


def _minute_key(video_id: int, minute: int) -> str:
    return f"sig:v:{video_id}:views:m{minute}"


def _ten_key(video_id: int, field: str, ten: int) -> str:
    return f"sig:v:{video_id}:{field}:t{ten}"


def _amounts(o: Observation) -> dict[str, int]:
    ratio = round(1000 * min(max(o.watch_ratio, 0.0), MAX_RATIO))
    return {
        "views": o.views,
        "completions": o.completions,
        "likes": o.likes,
        "skips": o.skips,
        "ratio_milli": ratio,
    }


def _bucket_deltas(observations: list[Observation], *, minute: bool) -> dict[str, int]:
    deltas: dict[str, int] = defaultdict(int)
    for o in observations:
        if minute:
            if o.views:
                deltas[_minute_key(o.video_id, math.floor(o.ts / 60))] += o.views
            continue
        for field, amount in _amounts(o).items():
            if amount:
                deltas[_ten_key(o.video_id, field, math.floor(o.ts / 600))] += amount
    return deltas


def _creator_deltas(observations: list[Observation]) -> dict[str, int]:
    deltas: dict[str, int] = defaultdict(int)
    for o in observations:
        for field in _CREATOR_FIELDS:
            amount = getattr(o, field)
            if amount:
                deltas[_creator_key(o.creator_id, field)] += amount
    return deltas


def _window_keys(video_id: int, now: float) -> list[str]:
    minute, ten = math.floor(now / 60), math.floor(now / 600)
    keys = [_minute_key(video_id, minute - back) for back in range(MINUTE_BUCKETS)]
    for field in FIELDS:
        keys += [_ten_key(video_id, field, ten - back) for back in range(TEN_MINUTE_BUCKETS)]
    return keys


def _signals_of(video_id: int, found: list[int]) -> VideoSignals:
    views_5m = sum(found[:MINUTE_BUCKETS])
    sums = {
        field: sum(found[MINUTE_BUCKETS + i * TEN_MINUTE_BUCKETS :][:TEN_MINUTE_BUCKETS])
        for i, field in enumerate(FIELDS)
    }
    return VideoSignals(
        video_id,
        views_5m=views_5m,
        views_1h=sums["views"],
        completions_1h=sums["completions"],
        likes_1h=sums["likes"],
        skips_1h=sums["skips"],
        watch_ratio_sum_1h=sums["ratio_milli"] / 1000,
    )


def _encode(signals: VideoSignals, now: float) -> bytes:
    return orjson.dumps(
        [
            now,
            signals.views_5m,
            signals.views_1h,
            signals.completions_1h,
            signals.likes_1h,
            signals.skips_1h,
            signals.watch_ratio_sum_1h,
        ]
    )


def _decode(source: tuple[int, bytes]) -> tuple[float, VideoSignals]:
    """(when the summary was written, the signals it holds), from (video id, summary)."""
    video_id, raw = source
    at, views_5m, views_1h, completions, likes, skips, ratio_sum = orjson.loads(raw)
    return at, VideoSignals(video_id, views_5m, views_1h, completions, likes, skips, ratio_sum)
