"""The transactional outbox on every SQL backend, relayed to the embedded bus: an event is
published only if the transaction that wrote it committed, in order, and exactly once per
committed row even when the relay runs again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flick.accounts import repository as repo
from flick.accounts.model import User
from flick.migrations import upgrade_all
from flick.platform.bus import Event, Message
from flick.platform.bus.local import LocalBus
from flick.platform.ids import new_id, shard_of
from flick.platform.outbox import OutboxRelay, record_event
from flick.platform.sql import Database, ShardMap, ShardRange


@pytest.fixture(params=["sqlite", "postgresql-2-shards"])
async def db(request, tmp_path, make_postgres_database) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        shard_map = ShardMap.single(f"sqlite:///{tmp_path / 'flick.db'}")
    else:
        first, second = await make_postgres_database(), await make_postgres_database()
        shard_map = ShardMap([ShardRange(0, 511, first), ShardRange(512, 1023, second)])
    database = Database(shard_map, pool_size=4)
    await upgrade_all(database)
    yield database
    await database.close()


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[LocalBus]:
    local = LocalBus(tmp_path / "bus", partitions=4)
    yield local
    await local.close()


async def _drain(bus: LocalBus, topic: str) -> list[Message]:
    messages: list[Message] = []
    for partition in range(bus.partitions):
        while batch := await bus.fetch(topic, group="test", partition=partition, timeout=0.05):
            messages += batch
    return messages


def _user(shard: int) -> User:
    return User(new_id(shard), f"u{shard}", "U", "", "x", time.time())


async def test_only_committed_events_are_published_in_order(db: Database, bus: LocalBus) -> None:
    user = _user(600)
    async with db.transaction(shard_of(user.id)) as conn:
        await repo.insert_user(conn, user)
        for n in range(3):
            await record_event(conn, "user", Event(type="test.step", key=user.id, payload={"n": n}))
    with pytest.raises(RuntimeError):
        async with db.transaction(shard_of(user.id)) as conn:
            await record_event(conn, "user", Event(type="test.lost", key=user.id, payload={}))
            raise RuntimeError("rolled back")

    relay = OutboxRelay(db, bus)
    assert await relay.drain() == 3
    assert await relay.drain() == 0  # a second pass finds nothing: rows were deleted
    messages = await _drain(bus, "user")
    assert [m.event.payload["n"] for m in messages] == [0, 1, 2]
    assert {m.event.type for m in messages} == {"test.step"}


async def test_events_from_every_shard_database_are_relayed(db: Database, bus: LocalBus) -> None:
    keys = []
    for shard in (1, 1000):
        user = _user(shard)
        keys.append(user.id)
        async with db.transaction(shard) as conn:
            await record_event(conn, "graph", Event(type="test.hello", key=user.id, payload={}))
    assert await OutboxRelay(db, bus).drain() == 2
    assert sorted(m.event.key for m in await _drain(bus, "graph")) == sorted(keys)


async def test_rows_written_before_the_key_column_are_relayed_by_their_decoded_key(
    db: Database, bus: LocalBus
) -> None:
    from flick.platform.bus import encode_event, partition_for
    from flick.platform.outbox import outbox

    event = Event(type="test.old", key=12345, payload={})
    async with db.transaction(0) as conn:  # as revision 0005 wrote it: no key
        await conn.execute(outbox.insert().values(topic="user", event=encode_event(event)))
    await OutboxRelay(db, bus).drain()
    [message] = await _drain(bus, "user")
    assert message.event == event
    assert message.partition == partition_for(12345, bus.partitions)
