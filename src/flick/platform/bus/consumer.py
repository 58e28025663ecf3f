"""The consumer loop every domain uses: one task per partition, batch handlers, retries and
a dead-letter topic, with per-key order kept.

A batch is handed to the handler whole (so it can group its writes into one transaction);
if the batch fails, its messages are handled one at a time so a single poison message is
isolated. A message that keeps failing `max_attempts` times is published unchanged to
`<topic>.dead` and skipped; nothing after it in its partition runs before that, so one user's
events are never reordered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from flick.platform.bus import Bus, Message, dead_letter_topic

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Message]], Awaitable[None]]
RETRY_BACKOFF_S = 0.05  # doubled per attempt; failures are usually a brief outage
FETCH_TIMEOUT_S = 0.5  # how long an idle partition waits before checking `stop`


async def run_consumer(
    bus: Bus,
    topic: str,
    *,
    group: str,
    handler: Handler,
    stop: asyncio.Event,
    partitions: Iterable[int] | None = None,
    max_attempts: int = 5,
    batch_size: int = 500,
) -> None:
    """Consume `topic` as `group` until `stop` is set."""
    chosen = list(range(bus.partitions) if partitions is None else partitions)
    await asyncio.gather(
        *(
            _consume_partition(
                bus,
                topic,
                p,
                group=group,
                handler=handler,
                stop=stop,
                max_attempts=max_attempts,
                batch_size=batch_size,
            )
            for p in chosen
        )
    )


async def _consume_partition(
    bus: Bus,
    topic: str,
    partition: int,
    *,
    group: str,
    handler: Handler,
    stop: asyncio.Event,
    max_attempts: int,
    batch_size: int,
) -> None:
    while not stop.is_set():
        batch = await bus.fetch(
            topic,
            group=group,
            partition=partition,
            max_messages=batch_size,
            timeout=FETCH_TIMEOUT_S,
        )
        if not batch:
            continue
        try:
            await handler(batch)
        except Exception:
            log.warning("batch of %d on %s/%d failed; isolating", len(batch), topic, partition)
            for message in batch:
                await _handle_one(
                    bus, message, group=group, handler=handler, max_attempts=max_attempts
                )
        await bus.commit(topic, group=group, partition=partition, offset=batch[-1].offset)


async def _handle_one(
    bus: Bus, message: Message, *, group: str, handler: Handler, max_attempts: int
) -> None:
    for attempt in range(1, max_attempts + 1):
        try:
            await handler([message])
            return
        except Exception as error:
            if attempt == max_attempts:
                await _dead_letter(bus, message, group=group, error=error)
                return
            await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))


async def _dead_letter(bus: Bus, message: Message, *, group: str, error: Exception) -> None:
    log.error(
        "%s gave up on event %s (%s) at %s/%d@%d: %s; moved to %s",
        group,
        message.event.id,
        message.event.type,
        message.topic,
        message.partition,
        message.offset,
        error,
        dead_letter_topic(message.topic),
    )
    await bus.publish(dead_letter_topic(message.topic), [message.event])
