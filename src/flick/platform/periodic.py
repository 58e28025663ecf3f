"""Work a process repeats on a timer (sweeps, reviews, reloads) until it is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_every(
    seconds: float, stop: asyncio.Event, step: Callable[[], Awaitable[None]], *, what: str
) -> None:
    """Run `step` now and then every `seconds` until `stop` is set. A step that fails is
    logged and tried again at the next turn (a backend outage passes; the loop must not)."""
    while not stop.is_set():
        try:
            await step()
        except Exception:
            log.exception("%s failed; trying again in %g s", what, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
