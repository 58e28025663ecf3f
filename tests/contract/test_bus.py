"""One suite for the bus port, run on the embedded SQLite log and on NATS JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from flick.platform.bus import (
    Bus,
    Event,
    Message,
    dead_letter_topic,
    encode_event,
    partition_for,
)
from flick.platform.bus.consumer import run_consumer
from flick.platform.bus.local import LocalBus
from flick.platform.bus.nats import NatsBus

from ..conftest import NATS_URL, require_service

PARTITIONS = 4
Opener = Callable[[], Awaitable[Bus]]


@pytest.fixture(params=["local", "nats"])
async def open_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens instances of one bus: each call is another process of the same deployment
    (Local: the same directory; NATS: another client on the same namespace)."""
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
    if request.param == "nats" and opened:
        cleaner = await NatsBus.connect(NATS_URL, partitions=PARTITIONS, namespace=namespace)
        await cleaner.destroy()
        await cleaner.close()
    for bus in opened:
        await bus.close()


async def _read_all(bus: Bus, topic: str, *, group: str) -> list[Message]:
    messages: list[Message] = []
    for partition in range(bus.partitions):
        while batch := await bus.fetch(topic, group=group, partition=partition, timeout=0.05):
            messages += batch
    return messages


def _events(keys: Sequence[int], *, per_key: int) -> list[Event]:
    return [Event(type="test.n", key=k, payload={"n": n}) for n in range(per_key) for k in keys]


def _key_in(partition: int) -> int:
    return next(k for k in range(1000) if partition_for(k, PARTITIONS) == partition)


async def _wait_until(condition: Callable[[], bool], *, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


# --- the log -----------------------------------------------------------------------------


async def test_encoded_events_land_like_published_ones(open_bus: Opener) -> None:
    bus = await open_bus()
    events = _events([_key_in(p) for p in range(PARTITIONS)], per_key=3)
    await bus.publish_encoded("video", [(e.key, encode_event(e)) for e in events])
    got = await _read_all(bus, "video", group="g")
    assert sorted(m.event.id for m in got) == sorted(e.id for e in events)
    assert {m.event.id: m.event for m in got} == {e.id: e for e in events}
    assert all(m.partition == partition_for(m.event.key, PARTITIONS) for m in got)


async def test_events_round_trip_through_the_codec(open_bus: Opener) -> None:
    bus = await open_bus()
    event = Event(
        type="social.liked",
        key=2**62 + 5,
        payload={"video": "9", "text": "é💃\nline two\r\n", "x": [1.5, None, {"y": True}]},
    )
    await bus.publish("interaction", [event])
    [message] = await _read_all(bus, "interaction", group="g")
    assert message.event == event
    assert (message.event.id, message.event.ts) == (event.id, event.ts)
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
        assert [m.offset for m in mine] == sorted({m.offset for m in mine})


async def test_fetch_returns_at_most_max_messages_in_order(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("video", _events([5], per_key=7))
    partition = partition_for(5, PARTITIONS)
    got: list[Message] = []
    while batch := await bus.fetch(
        "video", group="g", partition=partition, max_messages=3, timeout=0.2
    ):
        assert 1 <= len(batch) <= 3
        got += batch
    assert [m.event.payload["n"] for m in got] == list(range(7))


async def test_fetch_without_waiting_returns_what_is_stored(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("video", _events([5], per_key=2))
    partition = partition_for(5, PARTITIONS)
    got = await bus.fetch("video", group="g", partition=partition, timeout=0)
    assert [m.event.payload["n"] for m in got] == [0, 1]
    assert await bus.fetch("video", group="g", partition=partition, timeout=0) == []


async def test_a_large_batch_is_read_back_whole_and_in_order(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("watch", _events([3], per_key=2500))
    partition = partition_for(3, PARTITIONS)
    got: list[Message] = []
    while batch := await bus.fetch(
        "watch", group="g", partition=partition, max_messages=700, timeout=0.2
    ):
        got += batch
    assert [m.event.payload["n"] for m in got] == list(range(2500))
    assert [m.offset for m in got] == sorted({m.offset for m in got})


async def test_groups_are_independent(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("video", _events([1, 2, 3], per_key=2))
    assert len(await _read_all(bus, "video", group="search")) == 6
    assert len(await _read_all(bus, "video", group="feed")) == 6
    assert await _read_all(bus, "video", group="search") == []


async def test_fetch_on_an_empty_partition_returns_nothing_after_the_timeout(
    open_bus: Opener,
) -> None:
    bus = await open_bus()
    started = time.monotonic()
    assert await bus.fetch("live", group="g", partition=0, timeout=0.3) == []
    assert 0.25 <= time.monotonic() - started < 1.5


async def test_a_waiting_fetch_wakes_when_a_message_arrives(open_bus: Opener) -> None:
    bus = await open_bus()
    other = await open_bus()  # another process: no in-process wake-up, so this polls

    async def publish_later(publisher: Bus, n: int) -> None:
        await asyncio.sleep(0.2)
        await publisher.publish("live", [Event(type="t", key=_key_in(0), payload={"n": n})])

    for publisher, n in ((bus, 0), (other, 1)):
        task = asyncio.create_task(publish_later(publisher, n))
        started = time.monotonic()
        arrived = await bus.fetch("live", group="g", partition=0, timeout=5)
        await task
        assert [m.event.payload["n"] for m in arrived] == [n]
        assert time.monotonic() - started < 1.5


# --- offsets, restarts and replay -------------------------------------------------------


async def test_fetched_but_uncommitted_messages_are_delivered_again(open_bus: Opener) -> None:
    first = await open_bus()
    await first.publish("watch", _events([7], per_key=3))
    partition = partition_for(7, PARTITIONS)
    assert len(await first.fetch("watch", group="g", partition=partition, timeout=1)) == 3

    second = await open_bus()  # the first crashed before committing: at least once
    again = await second.fetch("watch", group="g", partition=partition, timeout=1)
    assert [m.event.payload["n"] for m in again] == [0, 1, 2]
    assert await second.committed("watch", group="g", partition=partition) is None


async def test_a_new_instance_resumes_right_after_the_commit(open_bus: Opener) -> None:
    first = await open_bus()
    await first.publish("watch", _events([7], per_key=3))
    partition = partition_for(7, PARTITIONS)
    fetched = await first.fetch("watch", group="g", partition=partition, timeout=1)
    await first.commit("watch", group="g", partition=partition, offset=fetched[0].offset)

    second = await open_bus()
    started = time.monotonic()
    again = await second.fetch("watch", group="g", partition=partition, timeout=5)
    assert time.monotonic() - started < 1  # at once, not after some ack wait
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


async def test_messages_and_offsets_survive_a_restart(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("graph", _events([1, 2, 3, 4, 5], per_key=4))
    await bus.commit("graph", group="g", partition=1, offset=1)
    await bus.close()

    reopened = await open_bus()
    messages = await _read_all(reopened, "graph", group="other")
    assert sorted((m.event.key, m.event.payload["n"]) for m in messages) == sorted(
        (k, n) for k in (1, 2, 3, 4, 5) for n in range(4)
    )
    assert await reopened.committed("graph", group="g", partition=1) == 1
    assert await reopened.committed("graph", group="g", partition=2) is None
    await reopened.ping()


async def test_committed_offsets_of_dotted_names_are_kept_apart(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.commit("b.c", group="a", partition=0, offset=7)  # e.g. a dead-letter topic
    assert await bus.committed("c", group="a.b", partition=0) is None
    assert await bus.committed("b.c", group="a", partition=0) == 7


# --- the consumer loop -------------------------------------------------------------------


async def _consume_until(
    bus: Bus,
    topic: str,
    handler: Callable[[Sequence[Message]], Awaitable[None]],
    done: Callable[[], bool],
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(bus, topic, group="counters", handler=handler, stop=stop, max_attempts=3)
    )
    await _wait_until(done)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1  # stops promptly


async def test_consumer_retries_a_message_that_fails_once(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.publish("watch", _events([9], per_key=3))
    handled: list[int] = []
    calls: list[int] = []

    async def handler(batch: Sequence[Message]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise ConnectionError("database blinked")
        handled.extend(m.event.payload["n"] for m in batch if m.event.payload["n"] not in handled)

    await _consume_until(bus, "watch", handler, lambda: len(handled) == 3)
    assert handled == [0, 1, 2]
    assert await _read_all(bus, dead_letter_topic("watch"), group="ops") == []
    partition = partition_for(9, PARTITIONS)
    assert await bus.committed("watch", group="counters", partition=partition) is not None


async def test_consumer_dead_letters_a_poison_message_and_keeps_order(open_bus: Opener) -> None:
    bus = await open_bus()
    key = 42
    await bus.publish("interaction", _events([key], per_key=6))
    handled: list[int] = []
    poison_attempts = 0

    async def handler(batch: Sequence[Message]) -> None:
        nonlocal poison_attempts
        for message in batch:
            n = message.event.payload["n"]
            if n in handled:
                continue  # idempotent: a batch retried one by one repeats earlier messages
            if n == 3:
                poison_attempts += 1
                raise ValueError("poison")
            handled.append(n)

    await _consume_until(bus, "interaction", handler, lambda: len(handled) == 5)
    assert handled == [0, 1, 2, 4, 5]  # 4 and 5 waited for 3 to be dead-lettered
    assert poison_attempts == 1 + 3  # the batch, then max_attempts alone
    dead = await _read_all(bus, dead_letter_topic("interaction"), group="ops")
    assert [(m.event.key, m.event.payload["n"]) for m in dead] == [(key, 3)]
    partition = partition_for(key, PARTITIONS)
    last = await bus.committed("interaction", group="counters", partition=partition)
    everything = await bus.fetch("interaction", group="fresh", partition=partition, timeout=1)
    assert last == everything[-1].offset


# --- adapter specifics -------------------------------------------------------------------


def test_local_bus_reads_its_url(tmp_path: Path) -> None:
    assert LocalBus.from_url(f"local://{tmp_path}/bus", partitions=2).path.parent == (
        tmp_path / "bus"
    )
    with pytest.raises(ValueError, match="absolute"):
        LocalBus.from_url("local://relative/dir", partitions=2)


async def test_local_trim_drops_old_batches_and_offsets_keep_rising(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path, partitions=1)
    try:
        for n in range(3):
            await bus.publish("video", [Event(type="t", key=1, payload={"n": n})])
        first, second, third = await bus.fetch("video", group="g", partition=0, timeout=0)
        await bus.trim("video", partition=0, before=third.offset + 1)  # keeps the newest
        assert await bus.fetch("video", group="new", partition=0, timeout=0) == [third]
        await bus.publish("video", [Event(type="t", key=1, payload={"n": 3})])
        [fourth] = await bus.fetch("video", group="g", partition=0, timeout=0)
        assert fourth.offset > third.offset > second.offset > first.offset
    finally:
        await bus.close()


async def test_local_fetch_sees_every_writer_in_order_when_two_share_the_file(
    tmp_path: Path,
) -> None:
    # One bus object per process: each keeps its own appends in memory; the gaps between
    # them (the other's batches) must come from the file, in offset order, none lost.
    ours, theirs = LocalBus(tmp_path, partitions=1), LocalBus(tmp_path, partitions=1)
    seen: list[Message] = []

    async def fetch_until(count: int) -> None:
        while len(seen) < count:
            batch = await ours.fetch("video", group="g", partition=0, timeout=1)
            assert batch, f"stalled after {[m.event.payload for m in seen]}"
            seen.extend(batch)

    try:
        # theirs, ours | ours, theirs, ours, ours: memory holds offsets 2, 3, 5, 6 with 4
        # (theirs) between them; a fetch at 2 gets 3 from memory and stops at the gap.
        for n, writer in enumerate([theirs, ours, ours, theirs, ours, ours]):
            await writer.publish("video", [Event(type="t", key=1, payload={"n": n})])
            if n == 1:
                await fetch_until(2)
        await fetch_until(6)
        assert [m.event.payload["n"] for m in seen] == list(range(6))
        assert [m.offset for m in seen] == list(range(1, 7))
    finally:
        await ours.close()
        await theirs.close()


async def test_local_waiting_fetches_of_every_partition_see_another_process_write(
    tmp_path: Path,
) -> None:
    # Fetches of several partitions wake together when the file changes; the first re-reads
    # the topic's marks, and the others, checking while that read runs, must still be woken
    # by it (they once slept out their whole timeout).
    partitions = 8
    ours, theirs = (LocalBus(tmp_path, partitions=partitions) for _ in range(2))
    try:
        waiting = [
            asyncio.create_task(ours.fetch("video", group="g", partition=p, timeout=30))
            for p in range(partitions)
        ]
        await asyncio.sleep(0.2)  # every fetch is waiting, the file watch running
        events = [Event(type="t", key=key, payload={}) for key in range(200)]
        await theirs.publish("video", events)
        fetched = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
        assert sum(len(batch) for batch in fetched) == len(events)
    finally:
        await ours.close()
        await theirs.close()


async def test_nats_publish_without_a_stream_raises_instead_of_losing_events() -> None:
    require_service("nats")
    bus = await NatsBus.connect(
        NATS_URL, partitions=PARTITIONS, namespace=f"t{uuid.uuid4().hex[:10]}"
    )
    try:
        await bus.publish("video", [Event(type="t", key=1, payload={})])
        await bus.js.delete_stream(bus.stream_name("video"))  # someone removed it underneath
        with pytest.raises(RuntimeError, match="refused"):
            await bus.publish("video", [Event(type="t", key=1, payload={})])
        await bus.publish("video", [Event(type="t", key=1, payload={})])  # recreated
    finally:
        await bus.destroy()
        await bus.close()


async def test_nats_topics_with_dots_get_their_own_streams() -> None:
    require_service("nats")
    bus = await NatsBus.connect(NATS_URL, partitions=1, namespace=f"t{uuid.uuid4().hex[:10]}")
    try:
        names = {bus.stream_name(t) for t in ("a.b", "a_b", "a.dead", "a_dead", "a_d")}
        assert len(names) == 5
        assert not any("." in name for name in names)
    finally:
        await bus.close()


async def test_nats_racing_first_fetches_share_one_reader() -> None:
    require_service("nats")
    bus = await NatsBus.connect(NATS_URL, partitions=1, namespace=f"t{uuid.uuid4().hex[:10]}")
    try:
        await bus.publish("video", [Event(type="t", key=1, payload={})])
        await asyncio.gather(
            *(bus.fetch("video", group="g", partition=0, timeout=0) for _ in range(3))
        )
        info = await bus.js.stream_info(bus.stream_name("video"))
        assert info.state.consumer_count == 1
    finally:
        await bus.destroy()
        await bus.close()
