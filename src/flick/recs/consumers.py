"""Reactions of the recs domain to events: the real-time signals consumer (group
`recs.signals`) over `watch` and `interaction`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.recs.events import WATCH, WATCHED
from flick.recs.signals import Observation, Signals
from flick.social.events import INTERACTION, LIKED

GROUP = "recs.signals"


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
    may count a batch twice: signals are estimates that decay within the hour, not ledgers."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self._batches = merged_batches(self._handle)

    async def handle(self, messages: Sequence[Message]) -> None:
        await self._batches.submit(messages)

    async def _handle(self, messages: Sequence[Message]) -> None:
        found = (observation_of(message.event) for message in messages)
        await self.signals.add([o for o in found if o is not None])


async def run_signals(aggregator: SignalAggregator, bus: Bus, stop: asyncio.Event) -> None:
    """Consume both topics until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=aggregator.handle, stop=stop)
            for topic in (WATCH, INTERACTION)
        )
    )
