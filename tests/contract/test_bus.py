"""One suite for the bus port, run on the embedded SQLite log and on NATS JetStream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from flick.platform.bus import Bus, Event, Message, dead_letter_topic, partition_for
from flick.platform.bus.consumer import run_consumer
from flick.platform.bus.local import LocalBus
from flick.platform.bus.nats import NatsBus

from ..conftest import NATS_URL, require_service

PARTITIONS = 4
Opener = Callable[[], Awaitable[Bus]]


@pytest.fixture(params=["local", "nats"])
async def open_bus(request, tmp_path: Path) -> AsyncIterator[Opener]:  # type: ignore[no-untyped-def]
    """Opens instances of one bus (same directory / namespace), closed after the test."""
    opened: list[Bus] = []
    namespace = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "nats":
        require_service("nats")

    async def open_one() -> Bus:
        if request.param == "local":
            bus: Bus = LocalBus(tmp_path / "bus", partitions=PARTITIONS)
        else:
            bus = await NatsBus.connect(NATS_URL, partitions=PARTITIONS, namespace=namespace)
        opened.append(bus)
        return bus

    yield open_one
    if request.param == "nats":
        await opened[0].destroy()  # type: ignore[attr-defined]
    for bus in opened:
        await bus.close()


async def _read_all(bus: Bus, topic: str, *, group: str) -> list[Message]:
    messages: list[Message] = []
    for partition in range(bus.partitions):
        while batch := await bus.fetch(topic, group=group, partition=partition, timeout=0.2):
            messages += batch
    return messages


def _events(keys: Sequence[int], *, per_key: int) -> list[Event]:
    return [Event(type="test.n", key=k, payload={"n": n}) for n in range(per_key) for k in keys]


async def test_events_round_trip_through_the_codec(open_bus: Opener) -> None:
    bus = await open_bus()
    event = Event(
        type="social.liked", key=2**62 + 5, payload={"video": "9", "emoji": "é💃", "x": [1.5, None]}
    )
    await bus.publish("interaction", [event])
    [message] = await _read_all(bus, "interaction", group="g")
    assert message.event == event
    assert message.topic == "interaction"
    assert message.partition == partition_for(event.key, PARTITIONS)


async def test_partition_by_key_keeps_per_key_order(open_bus: Opener) -> None:
    bus = await open_bus()
    keys = list(range(1000, 1040))
    events = _events(keys, per_key=5)
    await bus.publish("graph", events[:90])
    await bus.publish("graph", events[90:])
    messages = await _read_all(bus, "graph", group="g")
    assert len(messages) == len(events)
    for message in messages:
        assert message.partition == partition_for(message.event.key, PARTITIONS)
    for key in keys:
        mine = [m for m in messages if m.event.key == key]
        assert [m.event.payload["n"] for m in mine] == list(range(5))
        assert [m.offset for m in mine] == sorted(m.offset for m in mine)


async def test_groups_are_independent(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("video", _events([1, 2, 3], per_key=2))
    assert len(await _read_all(bus, "video", group="search")) == 6
    assert len(await _read_all(bus, "video", group="feed")) == 6
    assert await _read_all(bus, "video", group="search") == []


async def test_uncommitted_messages_are_delivered_again_to_a_new_instance(open_bus: Opener) -> None:
    first = await open_bus()
    await first.publish("watch", _events([7], per_key=3))
    partition = partition_for(7, PARTITIONS)
    fetched = await first.fetch("watch", group="g", partition=partition, timeout=1)
    assert len(fetched) == 3
    await first.commit("watch", group="g", partition=partition, offset=fetched[0].offset)

    second = await open_bus()  # a restarted process: resumes after the commit, at once
    again = await second.fetch("watch", group="g", partition=partition, timeout=1)
    assert [m.event.payload["n"] for m in again] == [1, 2]
    assert await second.committed("watch", group="g", partition=partition) == fetched[0].offset


async def test_seek_replays_from_an_offset(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("user", _events([11], per_key=5))
    partition = partition_for(11, PARTITIONS)
    everything = await bus.fetch("user", group="g", partition=partition, timeout=1)
    await bus.commit("user", group="g", partition=partition, offset=everything[-1].offset)
    assert await bus.fetch("user", group="g", partition=partition, timeout=0.1) == []

    await bus.seek("user", group="g", partition=partition, offset=everything[2].offset)
    replayed = await bus.fetch("user", group="g", partition=partition, timeout=1)
    assert [m.event.payload["n"] for m in replayed] == [2, 3, 4]
    restarted = await open_bus()  # the replay position is durable too
    assert len(await restarted.fetch("user", group="g", partition=partition, timeout=1)) == 3


async def test_fetch_waits_for_a_message_then_returns_empty(open_bus: Opener) -> None:
    bus = await open_bus()
    started = asyncio.get_running_loop().time()
    assert await bus.fetch("live", group="g", partition=0, timeout=0.3) == []
    assert asyncio.get_running_loop().time() - started < 2

    async def publish_later() -> None:
        await asyncio.sleep(0.2)
        await bus.publish("live", [Event(type="t", key=key_for(0), payload={})])

    def key_for(partition: int) -> int:
        return next(k for k in range(1000) if partition_for(k, PARTITIONS) == partition)

    task = asyncio.create_task(publish_later())
    arrived = await bus.fetch("live", group="g", partition=0, timeout=5)
    await task
    assert len(arrived) == 1


async def test_consumer_retries_then_dead_letters_a_poison_message_in_order(
    open_bus: Opener,
) -> None:
    bus = await open_bus()
    key = 42
    await bus.publish("interaction", _events([key], per_key=6))
    handled: list[int] = []
    failures: dict[int, int] = {}

    async def handler(batch: Sequence[Message]) -> None:
        for message in batch:
            n = message.event.payload["n"]
            if n in handled:
                continue  # idempotent: a batch retried one by one repeats earlier messages
            if n == 1 and failures.get(1, 0) < 1:  # fails once, then succeeds
                failures[1] = failures.get(1, 0) + 1
                raise RuntimeError("flaky")
            if n == 3:
                failures[3] = failures.get(3, 0) + 1
                raise ValueError("poison")
            handled.append(n)

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(
            bus, "interaction", group="counters", handler=handler, stop=stop, max_attempts=3
        )
    )
    for _ in range(100):
        if len(handled) == 5:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert handled == [0, 1, 2, 4, 5]
    assert failures[3] >= 3
    dead = await _read_all(bus, dead_letter_topic("interaction"), group="ops")
    assert [m.event.payload["n"] for m in dead] == [3]
    partition = partition_for(key, PARTITIONS)
    last = await bus.committed("interaction", group="counters", partition=partition)
    assert last is not None
    assert await bus.fetch("interaction", group="fresh", partition=partition, timeout=0.5)


async def test_nats_publish_without_a_stream_raises_instead_of_losing_events(
    tmp_path: Path,
) -> None:
    require_service("nats")
    bus = await NatsBus.connect(
        NATS_URL, partitions=PARTITIONS, namespace=f"t{uuid.uuid4().hex[:10]}"
    )
    try:
        await bus.publish("video", [Event(type="t", key=1, payload={})])
        await bus.js.delete_stream(bus.stream_name("video"))  # someone removed it underneath
        with pytest.raises(RuntimeError, match="refused"):
            await bus.publish("video", [Event(type="t", key=1, payload={})])
    finally:
        await bus.destroy()
        await bus.close()
