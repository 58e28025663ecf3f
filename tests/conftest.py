"""Shared test fixtures.

Tests that need a real server ask for it through `require_service`: when the server is not
listening the test is skipped, unless FLICK_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "nats": ("127.0.0.1", 4222),
}
POSTGRES_ADMIN_URL = os.environ.get("FLICK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("FLICK_TEST_REDIS", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("FLICK_TEST_NATS", "nats://127.0.0.1:4222")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip (or, with FLICK_REQUIRE_SERVICES=1, fail) unless the named server is up."""
    host, port = SERVICES[name]
    if _listening(host, port):
        return
    message = f"{name} is not listening on {host}:{port}"
    if os.environ.get("FLICK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and FLICK_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def make_postgres_database():  # type: ignore[no-untyped-def]
    """A factory of fresh, empty PostgreSQL databases, dropped after the test."""
    import uuid

    import asyncpg

    created: list[str] = []

    async def make() -> str:
        require_service("postgresql")
        name = f"flick_t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return f"{POSTGRES_ADMIN_URL}/{name}"

    yield make

    async def drop_all() -> None:
        conn = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres")
        try:
            for name in created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    if created:
        import asyncio

        asyncio.run(drop_all())
