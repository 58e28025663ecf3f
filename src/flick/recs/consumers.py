"""Reactions of the recs domain to events: the real-time signals consumer (group
`recs.signals`) over `watch` and `interaction`, and exploration's intake (group
`recs.explore`) over `video`, with its periodic review."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from flick.ingest.events import DELETED, READY
from flick.ingest.events import TOPIC as VIDEO
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.platform.periodic import run_every
from flick.recs.events import WATCH, WATCHED
from flick.recs.exploration import Exploration
from flick.recs.signals import Observation, Signals
from flick.social.events import INTERACTION, LIKED

log = logging.getLogger(__name__)
GROUP = "recs.signals"
EXPLORE_GROUP = "recs.explore"
REVIEW_EVERY_S = 60.0  # exploration verdicts are due 30 minutes after a video is ready
REFRESH_EVERY_S = 0.5  # signal summaries of busy videos are recomputed at most this often


def observation_of(event: Event) -> Observation | None:
    """What a counted watch or a like adds to the signals (None for anything else, and for
    repeated watches, which the watch API marks uncounted)."""
    p = event.payload
    if event.type == WATCHED:
        if not p.get("counted", False):
            return None
        ratio = int(p["watched_ms"]) / max(int(p["duration_ms"]), 1)
        return Observation(
            int(p["video_id"]),
            int(p["creator_id"]),
            event.ts,
            views=1,
            completions=int(bool(p["completed"])),
            skips=int(bool(p["quick_skip"])),
            watch_ratio=ratio,
        )
    if event.type == LIKED:
        return Observation(int(p["video_id"]), int(p["owner_id"]), event.ts, likes=1)
    return None


class SignalAggregator:
    """Adds each batch's observations to the signals in the cache. Redelivery after a crash
    may count a batch twice: signals are estimates that decay within the hour, not ledgers.

    Counting is per batch; the summaries readers see are recomputed at most once per
    REFRESH_EVERY_S for the videos touched meanwhile (each refresh reads every bucket of a
    video, so under a stream of likes it was most of this consumer's work); the first batch
    after a quiet spell refreshes at once. A stop between two refreshes leaves the summaries
    of the videos touched since the last one behind their buckets until their next event."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self._batches = merged_batches(self._handle)
        self._dirty: set[int] = set()
        self._refreshed_at = -REFRESH_EVERY_S
        self._later: asyncio.Task[None] | None = None

    async def handle(self, messages: Sequence[Message]) -> None:
        await self._batches.submit(messages)

    async def _handle(self, messages: Sequence[Message]) -> None:
        found = (observation_of(message.event) for message in messages)
        observations = [o for o in found if o is not None]
        self._dirty |= await self.signals.count(observations, now=time.time())
        due_in = self._refreshed_at + REFRESH_EVERY_S - time.monotonic()
        if due_in <= 0:
            await self._refresh()
        elif self._later is None and self._dirty:
            self._later = asyncio.create_task(self._refresh_after(due_in))

    async def _refresh_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._later = None
        try:
            await self._refresh()
        except Exception:  # the cache is away: the next batch's refresh carries these too
            log.warning(
                "signal summaries not refreshed; retried with the next batch", exc_info=True
            )

    async def _refresh(self) -> None:
        # Taken before the refresh reads the buckets: a batch counted meanwhile marks its
        # videos dirty again, for the next refresh.
        touched, self._dirty = self._dirty, set()
        self._refreshed_at = time.monotonic()
        try:
            await self.signals.refresh(sorted(touched), now=time.time())
        except BaseException:
            self._dirty |= touched
            raise


async def run_signals(aggregator: SignalAggregator, bus: Bus, stop: asyncio.Event) -> None:
    """Consume both topics until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=aggregator.handle, stop=stop)
            for topic in (WATCH, INTERACTION)
        )
    )


async def run_exploration(
    exploration: Exploration, signals: Signals, bus: Bus, stop: asyncio.Event
) -> None:
    """Admit ready videos to exploration, drop deleted ones, and review the pool every
    REVIEW_EVERY_S, until `stop` is set."""

    async def handle(messages: Sequence[Message]) -> None:
        for message in messages:
            event = message.event
            video_id = int(event.payload["video_id"])
            if event.type == READY:
                creator = int(event.payload["owner_id"])
                await exploration.admit(video_id, creator_id=creator, ready_at=event.ts)
            elif event.type == DELETED:
                await exploration.remove(video_id)

    async def review() -> None:
        result = await exploration.review(signals, now=time.time())
        if result.promoted or result.retired:
            log.info("exploration review: %s", result)

    await asyncio.gather(
        run_consumer(bus, VIDEO, group=EXPLORE_GROUP, handler=handle, stop=stop),
        run_every(REVIEW_EVERY_S, stop, review, what="exploration review"),
    )
