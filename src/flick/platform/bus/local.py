"""The embedded bus: a durable partitioned log in one SQLite file.

Every event round-trips through the same codec as on the network bus, so laptop mode fails on
anything that could not cross a wire. All SQLite work runs on one dedicated thread, so the
event loop never blocks. Offsets count from 1 within each partition; a group's position starts
after its committed offset. A publisher in this process wakes waiting fetchers at once; other
processes sharing the file see new messages within one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from flick.platform.bus import Event, Message, decode_event, encode_event, partition_for

T = TypeVar("T")
POLL_INTERVAL_S = 0.05  # how often a waiting fetch looks for another process's messages

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
"""


class LocalBus:
    """Bus port on a SQLite file; one process writes, any number may read."""

    def __init__(self, directory: Path, *, partitions: int) -> None:
        self.partitions = partitions
        self.path = directory / "bus.db"
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flick-bus")
        self._db = self._thread.submit(self._open).result()
        self._positions: dict[tuple[str, str, int], int] = {}
        self._published: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, partitions: int) -> LocalBus:
        """`local:///absolute/directory`."""
        parts = urlparse(url)
        if parts.scheme != "local" or parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"bus URL {url!r} is not local:///absolute/directory")
        return cls(Path(parts.path), partitions=partitions)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        db.execute("PRAGMA busy_timeout=30000")
        db.executescript(SCHEMA)
        return db

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        """Append events durably in one transaction."""
        if not events:
            return
        rows = [(partition_for(e.key, self.partitions), encode_event(e)) for e in events]
        await self._run(lambda: self._append(topic, rows))
        self._published.pop(topic, asyncio.Event()).set()

    def _append(self, topic: str, rows: list[tuple[int, bytes]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # serialises writers, even from other processes
        try:
            next_offset: dict[int, int] = {}
            batch = []
            for partition, data in rows:
                if partition not in next_offset:
                    next_offset[partition] = self._last_offset(topic, partition) + 1
                batch.append((topic, partition, next_offset[partition], data))
                next_offset[partition] += 1
            db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?)", batch)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _last_offset(self, topic: str, partition: int) -> int:
        row = self._db.execute(
            "SELECT MAX(offset) FROM messages WHERE topic = ? AND partition = ?", (topic, partition)
        ).fetchone()
        return int(row[0] or 0)

    async def fetch(
        self,
        topic: str,
        *,
        group: str,
        partition: int,
        max_messages: int = 500,
        timeout: float = 1.0,
    ) -> list[Message]:
        """The next messages after the group's position, waiting up to `timeout` for one."""
        deadline = time.monotonic() + timeout
        position = await self._position(group, topic, partition)
        while True:
            wake = self._published[topic]
            rows = await self._run(lambda: self._read(topic, partition, position, max_messages))
            if rows:
                self._positions[(group, topic, partition)] = rows[-1][0]
                return [
                    Message(topic, partition, offset, decode_event(data)) for offset, data in rows
                ]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, POLL_INTERVAL_S))

    def _read(self, topic: str, partition: int, after: int, limit: int) -> list[tuple[int, bytes]]:
        return self._db.execute(
            "SELECT offset, data FROM messages WHERE topic = ? AND partition = ? AND offset > ? "
            "ORDER BY offset LIMIT ?",
            (topic, partition, after, limit),
        ).fetchall()

    async def _position(self, group: str, topic: str, partition: int) -> int:
        key = (group, topic, partition)
        if key not in self._positions:
            committed = await self.committed(topic, group=group, partition=partition)
            self._positions[key] = committed or 0
        return self._positions[key]

    async def commit(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """Durably record the group's progress through `offset`."""
        await self._run(lambda: self._save_commit(group, topic, partition, offset))

    def _save_commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        self._db.execute(
            "INSERT INTO committed VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) "
            "DO UPDATE SET offset = excluded.offset",
            (group, topic, partition, offset),
        )

    async def committed(self, topic: str, *, group: str, partition: int) -> int | None:
        """The group's last committed offset in the partition, or None."""
        row = await self._run(
            lambda: self._db.execute(
                "SELECT offset FROM committed WHERE grp = ? AND topic = ? AND partition = ?",
                (group, topic, partition),
            ).fetchone()
        )
        return None if row is None else int(row[0])

    async def seek(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """The next fetch starts at `offset` (replay); committed too, so restarts agree."""
        await self.commit(topic, group=group, partition=partition, offset=offset - 1)
        self._positions[(group, topic, partition)] = offset - 1

    async def ping(self) -> None:
        """Raise unless the log file can be read (a bare `SELECT 1` would not touch it)."""
        await self._run(lambda: self._db.execute("SELECT 1 FROM committed LIMIT 1").fetchall())

    async def close(self) -> None:
        """Close the file and its thread; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        await self._run(self._db.close)
        self._thread.shutdown(wait=True)
