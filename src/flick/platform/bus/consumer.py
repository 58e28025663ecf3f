"""The consumer loop every domain uses: one task per partition, batch handlers, retries and
a dead-letter topic, with per-key order kept.

A batch is handed to the handler whole (so it can group its writes into one transaction);
if the batch fails, its messages are handled one at a time so a single poison message is
isolated. Handlers must be idempotent (drop repeats by `event.id`): delivery is at least once,
and a batch that fails part-way is handled again message by message. A message that keeps
failing `max_attempts` times is published unchanged to `<topic>.dead` and skipped; nothing
after it in its partition runs before that, so one user's events are never reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from flick.platform.batching import GroupCommit
from flick.platform.bus import Bus, Message, dead_letter_topic

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Message]], Awaitable[None]]
RETRY_BACKOFF_S = 0.05  # doubled per attempt; handler failures are usually a brief outage
BUS_ERROR_BACKOFF_S = 1.0  # the bus itself failed (fetch, dead-letter publish): wait longer
MERGED_BATCHES_MAX = 16  # partition batches handled in one call (one per partition by default)
# Partition tasks wake over several loop turns, not at once: waiting this long lets their
# batches meet (without it a call held 1.2 batches under load; likes/s rose from ~2.3k to
# ~4.1k with it, bench/likes) and costs at most this much of the "seconds" counters and
# notifications are allowed.
MERGE_LINGER_S = 0.1
# How long one fetch of an idle partition waits for a message. `stop` interrupts it, so this
# bounds only the idle traffic: each wait is a pull request on NATS, and a hundred partition
# tasks asking four times a second were ~12 % of a busy API process here.
FETCH_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class _Partition:
    """What one partition's task needs; keeps the helpers' signatures short."""

    bus: Bus
    topic: str
    partition: int
    group: str
    handler: Handler
    stop: asyncio.Event
    max_attempts: int


def merged_batches(handler: Handler) -> GroupCommit[Sequence[Message], None]:
    """Wrap a handler so batches of several partitions that arrive together are handled in
    one call (`.submit(batch)`): one partition's task per call would mean one transaction per
    partition. A merged call that fails is repeated per batch, so a poison message still
    fails only its own partition's batch (and then itself, one by one)."""

    async def handle_merged(batches: list[Sequence[Message]]) -> list[None]:
        await handler([message for batch in batches for message in batch])
        return [None] * len(batches)

    return GroupCommit(handle_merged, max_batch=MERGED_BATCHES_MAX, linger_s=MERGE_LINGER_S)


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
    """Consume `topic` as `group`, one task per partition, until `stop` is set."""
    chosen = range(bus.partitions) if partitions is None else partitions
    async with asyncio.TaskGroup() as tasks:
        for p in chosen:
            part = _Partition(bus, topic, p, group, handler, stop, max_attempts)
            tasks.create_task(_consume_partition(part, batch_size=batch_size))


async def _consume_partition(part: _Partition, *, batch_size: int) -> None:
    stopped = asyncio.ensure_future(part.stop.wait())
    try:
        while not part.stop.is_set():
            batch = await _fetch_unless_stopped(part, stopped, batch_size=batch_size)
            if batch:
                done = await _handle_batch(part, batch)
                await _settle(part, batch, done)
    finally:
        stopped.cancel()


async def _fetch_unless_stopped(
    part: _Partition, stopped: asyncio.Future[Literal[True]], *, batch_size: int
) -> list[Message]:
    """`_fetch`, given up (nothing taken: the bus keeps the messages) once `stop` is set."""
    fetch = asyncio.ensure_future(_fetch(part, batch_size=batch_size))
    await asyncio.wait((fetch, stopped), return_when=asyncio.FIRST_COMPLETED)
    if fetch.done():
        return fetch.result()
    fetch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await fetch
    return []


async def _fetch(part: _Partition, *, batch_size: int) -> list[Message]:
    try:
        return await part.bus.fetch(
            part.topic,
            group=part.group,
            partition=part.partition,
            max_messages=batch_size,
            timeout=FETCH_TIMEOUT_S,
        )
    except Exception:
        log.exception("%s: fetching %s/%d failed", part.group, part.topic, part.partition)
        await _pause(part.stop, BUS_ERROR_BACKOFF_S)
        return []


async def _handle_batch(part: _Partition, batch: Sequence[Message]) -> int:
    """How many messages of the batch were dealt with (handled or dead-lettered)."""
    try:
        await part.handler(batch)
        return len(batch)
    except Exception:
        log.warning(
            "%s: batch of %d on %s/%d failed; retrying one by one",
            part.group,
            len(batch),
            part.topic,
            part.partition,
            exc_info=True,
        )
    for done, message in enumerate(batch):
        if not await _handle_one(part, message):
            return done  # stopped while the bus was down: leave the rest for next time
    return len(batch)


async def _handle_one(part: _Partition, message: Message) -> bool:
    """Handle one message, retrying, else dead-letter it; False if stopped before either."""
    for attempt in range(1, part.max_attempts + 1):
        try:
            await part.handler([message])
            return True
        except Exception as error:
            if attempt == part.max_attempts:
                return await _dead_letter(part, message, error)
            # Not cut short by `stop`: the retries are bounded (0.05 s doubling).
            await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
    return True  # max_attempts < 1: nothing to try


async def _dead_letter(part: _Partition, message: Message, error: Exception) -> bool:
    dead = dead_letter_topic(message.topic)
    while True:
        try:
            await part.bus.publish(dead, [message.event])
        except Exception:
            log.exception("%s: could not dead-letter %s", part.group, message.event.id)
            if await _pause(part.stop, BUS_ERROR_BACKOFF_S):
                return False
            continue
        log.error(
            "%s gave up on event %s (%s) at %s/%d@%d after %d attempts; moved to %s",
            part.group,
            message.event.id,
            message.event.type,
            message.topic,
            message.partition,
            message.offset,
            part.max_attempts,
            dead,
            exc_info=error,
        )
        # Commit past it now, so a crash later in the batch does not dead-letter it twice.
        await _commit(part, message.offset)
        return True


async def _settle(part: _Partition, batch: Sequence[Message], done: int) -> None:
    """Commit what was dealt with; if stopped part-way, rewind to the first message left."""
    if done == len(batch):
        await _commit(part, batch[-1].offset)
        return
    try:
        await part.bus.seek(
            part.topic, group=part.group, partition=part.partition, offset=batch[done].offset
        )
    except Exception:
        log.exception("%s: could not rewind %s/%d", part.group, part.topic, part.partition)


async def _commit(part: _Partition, offset: int) -> None:
    # A failed commit is logged, not retried: the next one covers it, and until then a
    # restart only redelivers (at least once).
    try:
        await part.bus.commit(part.topic, group=part.group, partition=part.partition, offset=offset)
    except Exception:
        log.exception("%s: commit of %s/%d failed", part.group, part.topic, part.partition)


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
