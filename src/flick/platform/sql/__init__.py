"""The SQL port: SQLAlchemy 2 (async) over SQLite (WAL) or PostgreSQL, split into shards.

1024 logical shards (see `ids`) map onto physical databases through a `ShardMap`. Every
physical database holds the same schema (Alembic migrates each one); a row lives in the
database that owns its owner's logical shard, so a snowflake id routes a query without a lookup.
Services never commit: the request or consumer that calls them owns the transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import MetaData, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from flick.platform.ids import LOGICAL_SHARDS, shard_of

# One MetaData for every domain's tables; Alembic migrations are written against it.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

T = TypeVar("T")
# A pooled connection idle longer than this is pinged before use (HikariCP's alive-bypass
# window, 0.5 s there): under load connections come back within milliseconds.
POOL_PING_IDLE_S = 1.0
DIRECTORY_SHARD = 0  # global lookups (username -> user id) live with logical shard 0


@dataclass(frozen=True, slots=True)
class ShardRange:
    """Logical shards `first`..`last` (inclusive) live in the database at `url`."""

    first: int
    last: int
    url: str


class ShardMap:
    """Which physical database owns each of the 1024 logical shards."""

    def __init__(self, ranges: Iterable[ShardRange]) -> None:
        self.ranges = sorted(ranges, key=lambda r: r.first)
        self._owner = [""] * LOGICAL_SHARDS
        for r in self.ranges:
            for shard in range(r.first, r.last + 1):
                if self._owner[shard]:
                    raise ValueError(f"logical shard {shard} is mapped twice in the shard map")
                self._owner[shard] = r.url
        missing = [s for s, url in enumerate(self._owner) if not url]
        if missing:
            raise ValueError(
                f"the shard map leaves logical shards {missing[0]}..{missing[-1]} without a "
                f"database; cover 0-{LOGICAL_SHARDS - 1}"
            )

    @classmethod
    def single(cls, url: str) -> ShardMap:
        """Every logical shard in one database."""
        return cls([ShardRange(0, LOGICAL_SHARDS - 1, url)])

    @classmethod
    def parse(cls, spec: str) -> ShardMap:
        """Parse `"0-511=postgresql://h/a;512-1023=postgresql://h/b"`."""
        ranges = []
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            bounds, sep, url = part.partition("=")
            first, _, last = bounds.partition("-")
            if not sep or not first.strip().isdigit() or not (last or first).strip().isdigit():
                raise ValueError(f"cannot read shard map entry {part!r}; write FIRST-LAST=URL")
            ranges.append(ShardRange(int(first), int(last or first), url.strip()))
        return cls(ranges)

    def url_for(self, shard: int) -> str:
        """The database URL that owns a logical shard."""
        return self._owner[shard]

    @property
    def urls(self) -> list[str]:
        """Each physical database once, in shard order."""
        return list(dict.fromkeys(r.url for r in self.ranges))


def async_url(url: str) -> str:
    """Pick the asyncio driver for a plain database URL."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class Database:
    """Async engines for every physical database of a shard map."""

    def __init__(self, shard_map: ShardMap, *, pool_size: int = 10) -> None:
        self.shard_map = shard_map
        self._engines = {url: _make_engine(url, pool_size=pool_size) for url in shard_map.urls}
        # SQLite has one writer: writers of this process queue here rather than in SQLite's
        # busy handler, which sleeps in growing steps and took likes to 1.6 s at p99.
        self._writers = {
            engine: asyncio.Lock()
            for engine in self._engines.values()
            if engine.dialect.name == "sqlite"
        }

    def engine_for_shard(self, shard: int) -> AsyncEngine:
        """The engine of the database that owns a logical shard."""
        return self._engines[self.shard_map.url_for(shard)]

    def engine_for_id(self, snowflake: int) -> AsyncEngine:
        """The engine of the database holding the row with this id."""
        return self.engine_for_shard(shard_of(snowflake))

    def by_engine(
        self, items: Iterable[T], id_of: Callable[[T], int]
    ) -> dict[AsyncEngine, list[T]]:
        """`items` grouped by the database holding each one's row (`id_of(item)` is the row's
        id), so a batch takes one query per database."""
        grouped: dict[AsyncEngine, list[T]] = defaultdict(list)
        for item in items:
            grouped[self.engine_for_id(id_of(item))].append(item)
        return grouped

    @property
    def engines(self) -> list[AsyncEngine]:
        """One engine per physical database."""
        return list(self._engines.values())

    def same_database(self, shard_a: int, shard_b: int) -> bool:
        """Whether two logical shards live in one physical database (one transaction)."""
        return self.shard_map.url_for(shard_a) == self.shard_map.url_for(shard_b)

    @asynccontextmanager
    async def transaction(self, shard: int) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction on the shard's database; commits on success."""
        async with self.begin(self.engine_for_shard(shard)) as conn:
            yield conn

    @asynccontextmanager
    async def begin(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """A transaction on one engine, queued behind this process's other writers on
        SQLite."""
        lock = self._writers.get(engine)
        if lock is None:
            async with engine.begin() as conn:
                yield conn
            return
        async with lock, engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self, shard: int) -> AsyncIterator[AsyncConnection]:
        """A connection for reads on the shard's database."""
        async with self.engine_for_shard(shard).connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Raise unless every physical database answers."""
        for engine in self._engines.values():
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Dispose of every pool."""
        for engine in self._engines.values():
            await engine.dispose()


def _make_engine(url: str, *, pool_size: int) -> AsyncEngine:
    full = async_url(url)
    if full.startswith("sqlite"):
        Path(full.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(full, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(full, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only if it sat idle for POOL_PING_IDLE_S, not
    on every checkout (SQLAlchemy's pool_pre_ping): a connection used a moment ago is alive,
    and a ping is a round trip per query (5 to 14 % of a For You assembly on PostgreSQL in
    py-spy, by session). A dead one is replaced before the query runs, as with pre_ping."""
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > POOL_PING_IDLE_S:
            try:
                dialect.do_ping(dbapi_conn)
            except Exception as error:  # the pool drops it and checks out another
                raise DisconnectionError(f"pooled connection is gone: {error}") from error


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across app crashes
    # and loses at most the last commits on power loss, the usual trade for WAL.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def database_from_settings(db_url: str, db_shards: str, *, pool_size: int) -> Database:
    """A Database for `FLICK_DB_SHARDS` when set, else everything in `FLICK_DB_URL`."""
    shard_map = ShardMap.parse(db_shards) if db_shards else ShardMap.single(db_url)
    return Database(shard_map, pool_size=pool_size)


def insert_or_ignore(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT of the connection's dialect; chain `.values(...).on_conflict_do_nothing()`
    (PostgreSQL and SQLite spell it the same way, from different modules)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
