"""Transactional outbox: events are written in the same transaction as the state they
describe, and a relay publishes them to the bus after commit.

If the relay dies between publishing and deleting a batch, the batch is published again;
consumers drop the repeats by event id (`first_delivery`), so at-least-once never
double-counts. One relay per physical database keeps per-key order (on PostgreSQL an
advisory lock elects it; SQLite is one process by construction).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flick.platform.bus import Bus, Event, decode_event, encode_event
from flick.platform.sql import Database, insert_or_ignore, metadata

log = logging.getLogger(__name__)

RELAY_LINGER_S = 0.02  # see _run_engine
RELAY_BATCH = 1000  # rows per publish; large enough to amortise the bus round trip
RELAY_LOCK_KEY = 0x666C69636B  # "flick": the PostgreSQL advisory lock electing one relay

outbox = Table(
    "outbox",
    metadata,
    # SQLite only autoincrements an INTEGER PRIMARY KEY, so the variant keeps the order column.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("topic", String(64), nullable=False),
    Column("event", LargeBinary, nullable=False),
    Column("key", BigInteger, nullable=True),  # the event's partition key (None: decode it)
)

consumed_events = Table(
    "consumed_events",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("consumed_at", Float, nullable=False),
)


async def record_event(conn: AsyncConnection, topic: str, event: Event) -> None:
    """Write an event to the outbox inside the caller's transaction."""
    await conn.execute(insert(outbox).values(topic=topic, event=encode_event(event), key=event.key))


async def record_events(conn: AsyncConnection, topic: str, events: Sequence[Event]) -> None:
    """Write many events to the outbox in one statement, inside the caller's transaction."""
    if events:
        rows = [{"topic": topic, "event": encode_event(e), "key": e.key} for e in events]
        await conn.execute(insert(outbox), rows)


async def first_delivery(conn: AsyncConnection, *, consumer: str, event_id: str) -> bool:
    """Mark an event consumed inside the caller's transaction; False if it already was."""
    statement = (
        insert_or_ignore(conn, consumed_events)
        .values(consumer=consumer, event_id=event_id, consumed_at=time.time())
        .on_conflict_do_nothing()
    )
    result = await conn.execute(statement)
    return bool(result.rowcount)


async def first_deliveries(
    conn: AsyncConnection, *, consumer: str, event_ids: list[str]
) -> set[str]:
    """Mark many events consumed in one statement; returns those not consumed before."""
    if not event_ids:
        return set()
    now = time.time()
    rows = [
        {"consumer": consumer, "event_id": event_id, "consumed_at": now} for event_id in event_ids
    ]
    statement = insert_or_ignore(conn, consumed_events).on_conflict_do_nothing()
    result = await conn.execute(statement.returning(consumed_events.c.event_id), rows)
    return {row[0] for row in result}


class OutboxRelay:
    """Moves committed outbox rows of every physical database onto the bus."""

    def __init__(self, db: Database, bus: Bus, *, poll_interval: float = 0.2) -> None:
        self.db = db
        self.bus = bus
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.published = 0
        self._lock_conns: dict[AsyncEngine, AsyncConnection] = {}

    def notify(self) -> None:
        """Tell an in-process relay that a transaction with events just committed."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set."""
        await asyncio.gather(*(self._run_engine(engine, stop) for engine in self.db.engines))

    async def drain(self) -> int:
        """Publish everything pending now, in every database; returns how many events."""
        total = 0
        for engine in self.db.engines:
            while moved := await self.relay_once(engine):
                total += moved
        return total

    async def relay_once(self, engine: AsyncEngine) -> int:
        """Publish and delete one batch of one database's outbox; returns its size."""
        async with self.db.begin(engine) as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.event, outbox.c.key)
                    .order_by(outbox.c.seq)
                    .limit(RELAY_BATCH)
                )
            ).all()
            if not rows:
                return 0
            await self._publish(rows)
            await conn.execute(delete(outbox).where(outbox.c.seq <= rows[-1].seq))
        self.published += len(rows)
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        by_topic: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        for _seq, topic, payload, key in rows:
            by_topic[topic].append((decode_event(payload).key if key is None else key, payload))
        for topic, records in by_topic.items():
            await self.bus.publish_encoded(topic, records)

    async def _run_engine(self, engine: AsyncEngine, stop: asyncio.Event) -> None:
        moved = 0
        while not stop.is_set():
            try:
                if await self._holds_relay_lock(engine):
                    moved = 0
                    while batch := await self.relay_once(engine):
                        moved += batch
            except Exception:  # a database or bus outage: log, wait, try again
                log.exception("outbox relay failed; retrying in %.1fs", self.poll_interval)
            await self._sleep(stop)
            if moved > 1:  # under load: let more commits land so one publish carries them
                await asyncio.sleep(RELAY_LINGER_S)

    async def _holds_relay_lock(self, engine: AsyncEngine) -> bool:
        if engine.dialect.name != "postgresql":
            return True
        # Session-level lock on a dedicated connection kept for the relay's life.
        conn = self._lock_conns.get(engine)
        if conn is None:
            conn = await engine.connect()
            self._lock_conns[engine] = conn
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK_KEY})
        await conn.commit()
        return bool(got)

    async def _sleep(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def close(self) -> None:
        """Release the advisory-lock connections."""
        for conn in self._lock_conns.values():
            await conn.close()
