"""Every SQL query of the social domain.

Each row lives on the shard of the user it belongs to: `follows` (whom I follow) and `blocks`
(whom I block) on the actor's shard, `followers` (who follows me) on the followee's, `likes`
and `shares` on the actor's, `comments` on the video's shard (its creator's), so a video's
comments are one range scan. List cursors are the `edge_id`/`id` snowflakes: time-ordered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.platform.ids import new_id, shard_of
from flick.platform.sql import insert_or_ignore, metadata
from flick.social.model import Comment


def _edge_table(name: str, owner: str, other: str) -> Table:
    return Table(
        name,
        metadata,
        Column(owner, BigInteger, primary_key=True, autoincrement=False),
        Column(other, BigInteger, primary_key=True, autoincrement=False),
        Column("edge_id", BigInteger, nullable=False),
        Column("created_at", Float, nullable=False),
        Index(f"ix_{name}_{owner}_edge_id", owner, "edge_id"),
    )


follows = _edge_table("follows", "follower_id", "followee_id")
followers = _edge_table("followers", "followee_id", "follower_id")
blocks = _edge_table("blocks", "blocker_id", "blocked_id")
likes = _edge_table("likes", "user_id", "video_id")

comments = Table(
    "comments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("video_id", BigInteger, nullable=False),
    Column("author_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_comments_video_id_id", "video_id", "id"),
)

shares = Table(
    "shares",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("video_id", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)


def _keys(table: Table) -> tuple[Any, Any]:
    owner, other = (column for column in table.primary_key.columns)
    return owner, other


async def add_edge(
    conn: AsyncConnection, table: Table, owner: int, other: int, *, edge_id: int, now: float
) -> bool:
    """Insert an edge once; False if it was there (idempotent follows, likes, blocks)."""
    owner_col, other_col = _keys(table)
    result = await conn.execute(
        insert_or_ignore(conn, table)
        .values(
            {owner_col.name: owner, other_col.name: other, "edge_id": edge_id, "created_at": now}
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def add_edges(
    conn: AsyncConnection, table: Table, pairs: list[tuple[int, int]], *, now: float
) -> set[tuple[int, int]]:
    """Insert many (owner, other) edges in one statement; returns those that were new."""
    owner_col, other_col = _keys(table)
    rows = [
        {
            owner_col.name: owner,
            other_col.name: other,
            "edge_id": new_id(shard_of(owner)),
            "created_at": now,
        }
        for owner, other in pairs
    ]
    statement = insert_or_ignore(conn, table).on_conflict_do_nothing()
    result = await conn.execute(statement.returning(owner_col, other_col), rows)
    return {(row[0], row[1]) for row in result}


async def remove_edges(
    conn: AsyncConnection, table: Table, pairs: list[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Delete many (owner, other) edges in one statement; returns those that were there."""
    owner_col, other_col = _keys(table)
    result = await conn.execute(
        delete(table).where(tuple_(owner_col, other_col).in_(pairs)).returning(owner_col, other_col)
    )
    return {(row[0], row[1]) for row in result}


async def remove_edge(conn: AsyncConnection, table: Table, owner: int, other: int) -> bool:
    owner_col, other_col = _keys(table)
    result = await conn.execute(delete(table).where(owner_col == owner, other_col == other))
    return bool(result.rowcount)


async def has_edge(conn: AsyncConnection, table: Table, owner: int, other: int) -> bool:
    owner_col, other_col = _keys(table)
    found = await conn.execute(select(owner_col).where(owner_col == owner, other_col == other))
    return found.first() is not None


async def edges_of(conn: AsyncConnection, table: Table, owners: list[int]) -> dict[int, set[int]]:
    """Every edge of these owners: owner -> the others it points to (an owner without any
    is left out)."""
    owner_col, other_col = _keys(table)
    found: dict[int, set[int]] = {}
    for owner, other in await conn.execute(
        select(owner_col, other_col).where(owner_col.in_(owners))
    ):
        found.setdefault(owner, set()).add(other)
    return found


def _among_statement(table: Table) -> Select[Any]:
    owner_col, other_col = _keys(table)
    return select(other_col).where(
        owner_col == bindparam("owner"), other_col.in_(bindparam("others", expanding=True))
    )


# Built once per table: building the expression per call (an `in_` of a list of ~200 ids)
# was most of a feed assembly's SQL time in Python.
_AMONG = {table: _among_statement(table) for table in (follows, followers, blocks, likes)}


async def edges_among(
    conn: AsyncConnection, table: Table, owner: int, others: list[int]
) -> set[int]:
    """Which of `others` the owner has an edge to (likes of a page of videos)."""
    rows = await conn.execute(_AMONG[table], {"owner": owner, "others": others})
    return {row[0] for row in rows}


async def list_edges(
    conn: AsyncConnection, table: Table, owner: int, *, before: int | None, limit: int
) -> list[tuple[int, int]]:
    """(other id, edge id) newest first, strictly before the `before` edge id."""
    owner_col, other_col = _keys(table)
    query = select(other_col, table.c.edge_id).where(owner_col == owner)
    if before is not None:
        query = query.where(table.c.edge_id < before)
    rows = await conn.execute(query.order_by(table.c.edge_id.desc()).limit(limit))
    return [(row[0], row[1]) for row in rows]


async def insert_comment(conn: AsyncConnection, comment: Comment) -> None:
    await conn.execute(
        insert(comments).values(
            id=comment.id,
            video_id=comment.video_id,
            author_id=comment.author_id,
            text=comment.text,
            created_at=comment.created_at,
        )
    )


async def get_comment(conn: AsyncConnection, comment_id: int) -> Comment | None:
    row = (await conn.execute(select(comments).where(comments.c.id == comment_id))).first()
    return Comment(row.id, row.video_id, row.author_id, row.text, row.created_at) if row else None


async def delete_comment(conn: AsyncConnection, comment_id: int) -> bool:
    result = await conn.execute(delete(comments).where(comments.c.id == comment_id))
    return bool(result.rowcount)


async def list_comments(
    conn: AsyncConnection, video_id: int, *, before: int | None, limit: int
) -> list[Comment]:
    """A video's comments, newest first."""
    query = select(comments).where(comments.c.video_id == video_id)
    if before is not None:
        query = query.where(comments.c.id < before)
    rows = await conn.execute(query.order_by(comments.c.id.desc()).limit(limit))
    return [Comment(r.id, r.video_id, r.author_id, r.text, r.created_at) for r in rows]


async def insert_share(
    conn: AsyncConnection, share_id: int, *, user_id: int, video_id: int, now: float
) -> None:
    await conn.execute(
        insert(shares).values(id=share_id, user_id=user_id, video_id=video_id, created_at=now)
    )


# --- counters ----------------------------------------------------------------------------------
# A counter is the number of members present in a set (the users liking a video, a user's
# followers, a video's comments). Each member's latest state is kept with the version of the
# action that set it, on the counted entity's shard beside the counter, so a redelivered or
# late event changes nothing and the count stays exact (a last-writer-wins set).

counted_members = Table(
    "counted_members",
    metadata,
    Column("entity_id", BigInteger, primary_key=True, autoincrement=False),
    Column("counter", String(16), primary_key=True),
    Column("member_id", BigInteger, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("present", Boolean, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("entity_id", BigInteger, primary_key=True, autoincrement=False),
    Column("counter", String(16), primary_key=True),
    Column("value", BigInteger, nullable=False),
)


MemberKey = tuple[int, str, int]  # (entity_id, counter, member_id)
MemberState = tuple[int, bool]  # (version, present)


async def member_states(
    conn: AsyncConnection, keys: list[MemberKey]
) -> dict[MemberKey, MemberState]:
    """The stored state of these members (absent ones are left out), locked on PostgreSQL
    until the transaction ends."""
    c = counted_members.c
    query = select(c.entity_id, c.counter, c.member_id, c.version, c.present).where(
        tuple_(c.entity_id, c.counter, c.member_id).in_(keys)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = await conn.execute(query)
    return {(r.entity_id, r.counter, r.member_id): (r.version, r.present) for r in rows}


async def put_member_states(
    conn: AsyncConnection, new: dict[MemberKey, MemberState], changed: dict[MemberKey, MemberState]
) -> None:
    """Insert the states of members seen for the first time (a concurrent insert of the same
    member fails the transaction rather than counting it twice) and update the others."""
    c = counted_members.c
    if new:
        rows = [
            {"entity_id": e, "counter": n, "member_id": m, "version": v, "present": p}
            for (e, n, m), (v, p) in new.items()
        ]
        await conn.execute(insert(counted_members), rows)
    if changed:
        statement = (
            update(counted_members)
            .where(
                c.entity_id == bindparam("e"),
                c.counter == bindparam("n"),
                c.member_id == bindparam("m"),
            )
            .values(version=bindparam("v"), present=bindparam("p"))
        )
        rows = [{"e": e, "n": n, "m": m, "v": v, "p": p} for (e, n, m), (v, p) in changed.items()]
        await conn.execute(statement, rows)


async def add_to_counters(conn: AsyncConnection, deltas: dict[tuple[int, str], int]) -> None:
    """Add each delta to its counter (absent = 0), in one statement."""
    rows = [
        {"entity_id": entity_id, "counter": counter, "value": delta}
        for (entity_id, counter), delta in deltas.items()
        if delta
    ]
    if not rows:
        return
    statement = insert_or_ignore(conn, counters)
    statement = statement.on_conflict_do_update(
        index_elements=[counters.c.entity_id, counters.c.counter],
        set_={"value": counters.c.value + statement.excluded.value},
    )
    await conn.execute(statement, rows)


async def get_counters(conn: AsyncConnection, entity_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = await conn.execute(select(counters).where(counters.c.entity_id.in_(entity_ids)))
    found: dict[int, dict[str, int]] = {entity_id: {} for entity_id in entity_ids}
    for row in rows:
        found[row.entity_id][row.counter] = row.value
    return found
