"""One suite for the SQL port, run on SQLite, one PostgreSQL database, and two PostgreSQL
databases splitting the 1024 logical shards."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from flick.accounts import repository as repo
from flick.accounts.model import User
from flick.migrations import current_revisions, head_revision, upgrade_all
from flick.platform import sql
from flick.platform.ids import LOGICAL_SHARDS, new_id, shard_of
from flick.platform.outbox import first_delivery
from flick.platform.sql import Database, ShardMap, ShardRange

BACKENDS = ["sqlite", "postgresql", "postgresql-2-shards"]


@pytest.fixture(params=BACKENDS)
async def db(request, tmp_path, make_postgres_database) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        shard_map = ShardMap.single(f"sqlite:///{tmp_path / 'flick.db'}")
    elif request.param == "postgresql":
        shard_map = ShardMap.single(await make_postgres_database())
    else:
        first, second = await make_postgres_database(), await make_postgres_database()
        shard_map = ShardMap(
            [ShardRange(0, 511, first), ShardRange(512, LOGICAL_SHARDS - 1, second)]
        )
    database = Database(shard_map, pool_size=4)
    await upgrade_all(database)
    yield database
    await database.close()


def _user(shard: int, name: str) -> User:
    return User(
        id=new_id(shard),
        username=name,
        display_name=name.title(),
        bio="",
        password_hash="x",
        created_at=time.time(),
    )


async def _count_users(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(repo.users)) or 0)


async def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    await upgrade_all(db)
    revisions = await current_revisions(db)
    assert set(revisions.values()) == {head_revision()}
    assert len(revisions) == len(db.shard_map.urls)


async def test_rows_land_on_their_owners_shard_and_read_back_across_shards(db: Database) -> None:
    users = [_user(shard, f"user{shard}") for shard in (3, 200, 511, 512, 800, 1023)]
    for user in users:
        async with db.transaction(shard_of(user.id)) as conn:
            await repo.insert_user(conn, user)

    for user in users:  # every row is found by id alone, wherever it lives
        async with db.read(shard_of(user.id)) as conn:
            found = await repo.get_user(conn, user.id)
        assert found == user

    per_database = [await _count_users(engine) for engine in db.engines]
    if len(db.engines) == 2:
        assert per_database == [3, 3]  # shards 0-511 in the first database, the rest in the second
    else:
        assert per_database == [6]


async def test_a_failed_transaction_writes_nothing(db: Database) -> None:
    user = _user(7, "rolled")
    with pytest.raises(RuntimeError):
        async with db.transaction(7) as conn:
            await repo.insert_user(conn, user)
            raise RuntimeError("boom")
    async with db.read(7) as conn:
        assert await repo.get_user(conn, user.id) is None


async def test_primary_key_rejects_a_duplicate_id(db: Database) -> None:
    user = _user(9, "dup")
    async with db.transaction(9) as conn:
        await repo.insert_user(conn, user)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with db.transaction(9) as conn:
            await repo.insert_user(conn, user)


async def test_first_delivery_drops_repeats_by_event_id(db: Database) -> None:
    async with db.transaction(0) as conn:
        assert await first_delivery(conn, consumer="counters", event_id="e1")
        assert not await first_delivery(conn, consumer="counters", event_id="e1")
        assert await first_delivery(conn, consumer="search", event_id="e1")


async def test_username_claims_are_exclusive(db: Database) -> None:
    async with db.transaction(0) as conn:
        assert await repo.claim_username(conn, "ana", 1, time.time())
        assert not await repo.claim_username(conn, "ana", 2, time.time())
        found = await repo.user_id_for(conn, "ana")
    assert found is not None and found[0] == 1


async def test_ping_and_dialect(db: Database) -> None:
    await db.ping()
    async with db.read(0) as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


def test_shard_map_parsing_and_gaps() -> None:
    shard_map = ShardMap.parse("0-511=postgresql://h/a; 512-1023=postgresql://h/b")
    assert shard_map.url_for(0) == shard_map.url_for(511) == "postgresql://h/a"
    assert shard_map.url_for(512) == "postgresql://h/b"
    assert shard_map.urls == ["postgresql://h/a", "postgresql://h/b"]
    with pytest.raises(ValueError, match="without a database"):
        ShardMap.parse("0-500=postgresql://h/a")
    with pytest.raises(ValueError, match="twice"):
        ShardMap.parse("0-1023=postgresql://h/a;5-6=postgresql://h/b")
    with pytest.raises(ValueError, match="FIRST-LAST=URL"):
        ShardMap.parse("zero=postgresql://h/a")


async def test_a_pooled_connection_killed_while_idle_is_replaced(
    make_postgres_database, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL restarted, or a proxy closed idle connections: the next query still
    answers (a connection idle past POOL_PING_IDLE_S is pinged, and replaced if dead)."""
    import asyncpg

    monkeypatch.setattr(sql, "POOL_PING_IDLE_S", 0.0)
    url = await make_postgres_database()
    db = Database(ShardMap.single(url), pool_size=2)
    try:
        async with db.read(0) as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        outsider = await asyncpg.connect(url)  # not from the pool: the pooled one sits idle
        try:
            assert await outsider.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await outsider.close()
        for _ in range(3):  # whichever pooled connection comes next
            async with db.read(0) as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.close()


async def test_by_engine_groups_rows_by_the_database_holding_them(db: Database) -> None:
    ids = [new_id(shard) for shard in (0, 1, 511, 512, 900, LOGICAL_SHARDS - 1)]
    grouped = db.by_engine(ids, int)
    assert sorted(id_ for part in grouped.values() for id_ in part) == sorted(ids)
    assert len(grouped) == len({db.engine_for_id(id_) for id_ in ids})
    for engine, part in grouped.items():
        assert all(db.engine_for_id(id_) is engine for id_ in part)
