"""A new creator's video enters exploration from `video.ready` on the bus, and leaves it on
`video.deleted`: how a creator with no followers reaches an audience."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from flick.bootstrap import Container
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.events import VideoDeleted, VideoReady
from flick.platform.outbox import record_event
from flick.recs.consumers import run_exploration


async def eventually(check: Callable[[], Awaitable[bool]], *, seconds: float = 5) -> bool:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_ready_video_is_explored_and_a_deleted_one_is_not(services: Container) -> None:
    stop = asyncio.Event()
    running = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(
            run_exploration(services.exploration, services.signals, services.bus, stop)
        ),
    ]

    async def explored() -> list[int]:
        return await services.exploration.candidates(10, now=time.time() + 1)

    try:
        ready = VideoReady(42, 7, "first post", [], 9.0, time.time()).to_event()
        async with services.db.transaction(0) as conn:
            await record_event(conn, VIDEO, ready)
        services.relay.notify()
        assert await eventually(lambda: _has(explored, 42))
        async with services.db.transaction(0) as conn:
            await record_event(conn, VIDEO, VideoDeleted(42, 7).to_event())
        services.relay.notify()
        assert await eventually(lambda: _lacks(explored, 42))
    finally:
        stop.set()
        await asyncio.gather(*running)


async def _has(explored: Callable[[], Awaitable[list[int]]], video: int) -> bool:
    return video in await explored()


async def _lacks(explored: Callable[[], Awaitable[list[int]]], video: int) -> bool:
    return video not in await explored()
