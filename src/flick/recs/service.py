"""Watch events: check and clamp what clients report, keep the history, publish `watch`.

Clients report watches in batches (a feed session flushes every few seconds). What they send
is untrusted: durations are clamped to what the video allows, timestamps to the last day, a
report for a video that is not there or not ready is dropped, and only the first report of a
user and video in DEDUPE_WINDOW_S counts towards signals (repeats stay in the history), so a
script replaying one watch cannot push a video up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from flick.ingest.service import Videos
from flick.platform.bus import Event
from flick.platform.cache import Cache
from flick.platform.ids import new_id, shard_of
from flick.platform.outbox import record_events
from flick.platform.sql import Database
from flick.recs import repository as repo
from flick.recs.events import WATCH, watched_event

MAX_REPLAYS = 10  # loops of one video that count; past that it is left playing
COMPLETED_SHARE = 0.9  # watched this share of the video: completed, whatever the client says
QUICK_SKIP_MS = 2_000  # left within two seconds: the viewer did not want it
MAX_CLOCK_SKEW_S = 86_400  # a report dated more than a day back (or in the future) is re-dated
DEDUPE_WINDOW_S = 1_800  # one counted view per user and video per half hour
RECENT_KEPT = 50  # watches kept hot per user: the user tower pools the last 50 (DESIGN.md)
NO_WATCHES_TTL_S = 300.0  # how long "SQL holds no watches of this user" is remembered


class WatchReport(NamedTuple):
    """One watch as a client reports it (already parsed, not yet trusted)."""

    video_id: int
    watched_ms: int
    completed: bool = False
    replays: int = 0
    quick_skip: bool = False
    ts: float | None = None


class RecordResult(NamedTuple):
    accepted: int
    dropped: int  # reports of videos that do not exist or are not ready


class Watch(NamedTuple):
    """A watch as stored: checked and clamped (a watch_history row)."""

    id: int
    user_id: int
    video_id: int
    watched_ms: int
    duration_ms: int
    completed: bool
    replays: int
    quick_skip: bool
    watched_at: float

    @property
    def watch_ratio(self) -> float:
        return self.watched_ms / max(self.duration_ms, 1)


class RecentWatch(NamedTuple):
    video_id: int
    watch_ratio: float  # watched / duration, above 1 with replays
    ts: float


class Watches:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(
        self,
        db: Database,
        cache: Cache,
        videos: Videos,
        *,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.videos = videos
        self.on_commit = on_commit  # wakes the in-process outbox relay

    async def record(self, user_id: int, reports: Sequence[WatchReport]) -> RecordResult:
        """Store a batch of a user's watches and publish them on `watch`."""
        now = time.time()
        facts = {v: await self.videos.playback_facts(v) for v in {r.video_id for r in reports}}
        known = [r for r in reports if facts[r.video_id] is not None]
        first_time = await self._first_views(user_id, {r.video_id for r in known})
        watches, events = [], []
        for report in known:
            creator_id, duration_s = facts[report.video_id]  # type: ignore[misc]
            watch = _clamped(report, user_id, duration_ms=round(duration_s * 1000), now=now)
            counted = report.video_id in first_time
            first_time.discard(report.video_id)  # one counted view per video per batch too
            watches.append(watch)
            events.append(_event_of(watch, creator_id=creator_id, counted=counted))
        async with self.db.transaction(shard_of(user_id)) as conn:
            await repo.add_watches(conn, [watch._asdict() for watch in watches])
            await record_events(conn, WATCH, events)
        if watches:
            self.on_commit()
            await self._remember(user_id, watches)
        return RecordResult(len(watches), len(reports) - len(watches))

    async def recent(self, user_id: int) -> list[RecentWatch]:
        """The user's latest watches, newest first (cache; the history after a restart)."""
        cached = await self.cache.zrange(_recent_key(user_id), limit=RECENT_KEPT)
        if cached:
            return [_recent_of(member, ts) for member, ts in cached]
        if await self.cache.get(_none_key(user_id)) is not None:
            return []  # SQL had none lately (new viewers: every For You assembly asks)
        async with self.db.read(shard_of(user_id)) as conn:
            found = await repo.recent_watches(conn, user_id, limit=RECENT_KEPT)
        watches = [
            RecentWatch(r.video_id, r.watched_ms / max(r.duration_ms, 1), r.watched_at)
            for r in found
        ]
        if watches:
            members = {f"{w.video_id}:{w.watch_ratio:.3f}:{w.ts}": w.ts for w in watches}
            await self.cache.zadd(_recent_key(user_id), members, cap=RECENT_KEPT)
        else:
            await self.cache.set(_none_key(user_id), b"1", ttl=NO_WATCHES_TTL_S)
        return watches

    async def _first_views(self, user_id: int, video_ids: set[int]) -> set[int]:
        """The videos this user has not had a counted view of within the dedupe window."""
        ordered = list(video_ids)
        keys = {f"watch:once:{user_id}:{video_id}": 1 for video_id in ordered}
        counts = await self.cache.incr_many(keys, ttl=DEDUPE_WINDOW_S)
        return {video_id for video_id, n in zip(ordered, counts, strict=True) if n == 1}

    async def _remember(self, user_id: int, watches: list[Watch]) -> None:
        members = {f"{w.video_id}:{w.watch_ratio:.3f}:{w.id}": w.watched_at for w in watches}
        await self.cache.zadd(_recent_key(user_id), members, cap=RECENT_KEPT)
        await self.cache.delete(_none_key(user_id))  # should the set be evicted before it


def _clamped(report: WatchReport, user_id: int, *, duration_ms: int, now: float) -> Watch:
    replays = min(max(report.replays, 0), MAX_REPLAYS)
    watched_ms = min(max(report.watched_ms, 0), max(duration_ms, 1) * (1 + replays))
    ts = report.ts if report.ts is not None and abs(now - report.ts) <= MAX_CLOCK_SKEW_S else now
    completed = watched_ms >= COMPLETED_SHARE * duration_ms or (
        report.completed and watched_ms >= duration_ms / 2  # players report the end early
    )
    quick_skip = report.quick_skip or watched_ms < min(QUICK_SKIP_MS, duration_ms / 2)
    return Watch(
        new_id(shard_of(user_id)),
        user_id,
        report.video_id,
        watched_ms,
        duration_ms,
        completed,
        replays,
        quick_skip and not completed,
        min(ts, now),
    )


def _event_of(watch: Watch, *, creator_id: int, counted: bool) -> Event:
    return watched_event(
        watch.user_id,
        video_id=watch.video_id,
        creator_id=creator_id,
        watched_ms=watch.watched_ms,
        duration_ms=watch.duration_ms,
        completed=watch.completed,
        replays=watch.replays,
        quick_skip=watch.quick_skip,
        counted=counted,
        ts=watch.watched_at,
    )


def _none_key(user_id: int) -> str:
    return f"watch:none:{user_id}"


def _recent_key(user_id: int) -> str:
    return f"recent:{user_id}"


def _recent_of(member: str, ts: float) -> RecentWatch:
    video_id, ratio, _ = member.split(":", 2)
    return RecentWatch(int(video_id), float(ratio), ts)
