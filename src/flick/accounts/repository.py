"""Every SQL query of the accounts domain.

`users` and `sessions` rows live on the owner's shard; `username_directory` is the global
username -> user id lookup and lives with logical shard 0 (DESIGN.md section 3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.accounts.model import Session, User
from flick.platform.sql import insert_or_ignore, metadata

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(30), nullable=False, index=True),
    Column("display_name", String(50), nullable=False),
    Column("bio", Text, nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

username_directory = Table(
    "username_directory",
    metadata,
    Column("username", String(30), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("claimed_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False, index=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)


async def claim_username(conn: AsyncConnection, username: str, user_id: int, now: float) -> bool:
    """Reserve a username for a user id; False if someone holds it."""
    result = await conn.execute(
        insert_or_ignore(conn, username_directory)
        .values(username=username, user_id=user_id, claimed_at=now)
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def take_over_claim(
    conn: AsyncConnection, username: str, *, stale_user_id: int, user_id: int, now: float
) -> bool:
    """Move a claim whose user was never created to a new user id."""
    result = await conn.execute(
        update(username_directory)
        .where(username_directory.c.username == username)
        .where(username_directory.c.user_id == stale_user_id)
        .values(user_id=user_id, claimed_at=now)
    )
    return bool(result.rowcount)


async def release_username(conn: AsyncConnection, username: str, user_id: int) -> None:
    """Drop a claim, only if it still belongs to `user_id`."""
    await conn.execute(
        delete(username_directory)
        .where(username_directory.c.username == username)
        .where(username_directory.c.user_id == user_id)
    )


async def user_id_for(conn: AsyncConnection, username: str) -> tuple[int, float] | None:
    """(user id, claimed_at) for a username, or None."""
    row = (
        await conn.execute(
            select(username_directory.c.user_id, username_directory.c.claimed_at).where(
                username_directory.c.username == username
            )
        )
    ).first()
    return (row.user_id, row.claimed_at) if row else None


async def insert_user(conn: AsyncConnection, user: User) -> None:
    """Create a user row."""
    await conn.execute(
        insert(users).values(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            bio=user.bio,
            password_hash=user.password_hash,
            created_at=user.created_at,
            updated_at=user.created_at,
        )
    )


async def get_user(conn: AsyncConnection, user_id: int) -> User | None:
    """A user by id, or None."""
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return None if row is None else _user(row)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        bio=row.bio,
        password_hash=row.password_hash,
        created_at=row.created_at,
    )


async def update_profile(
    conn: AsyncConnection, user_id: int, *, display_name: str, bio: str, now: float
) -> None:
    """Replace the editable profile fields."""
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(display_name=display_name, bio=bio, updated_at=now)
    )


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """Store a new hash (after a cost upgrade)."""
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def insert_session(conn: AsyncConnection, session: Session, *, now: float) -> None:
    """Create a login session."""
    await conn.execute(
        insert(sessions).values(
            id=session.id,
            user_id=session.user_id,
            secret_hash=session.secret_hash,
            created_at=now,
            expires_at=session.expires_at,
            revoked_at=None,
        )
    )


async def get_session(conn: AsyncConnection, session_id: int) -> Session | None:
    """A session by id, revoked or not, or None."""
    row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
    if row is None:
        return None
    return Session(
        id=row.id,
        user_id=row.user_id,
        secret_hash=bytes(row.secret_hash),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def revoke_session(conn: AsyncConnection, session_id: int, *, now: float) -> bool:
    """Mark a session revoked; False if it was unknown or already revoked."""
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.id == session_id)
        .where(sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


async def users_after(conn: AsyncConnection, after_id: int, *, limit: int) -> list[User]:
    """Users of one database by id, after `after_id` (a scan, page by page)."""
    query = select(users).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
    return [_user(row) for row in await conn.execute(query)]
