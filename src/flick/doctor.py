"""`flick doctor`: connect to each configured backend and explain any failure in plain words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rich.console import Console

from flick.platform.settings import Settings

CHECK_TIMEOUT_S = 5.0

HINTS = {
    "sql": "check FLICK_DB_URL / FLICK_DB_SHARDS; for PostgreSQL make sure the server runs "
    "(pg_ctlcluster ... start), the database exists (createdb NAME) and the user may connect",
    "cache": "check FLICK_CACHE_URL; for Redis start it (redis-server --daemonize yes) or use "
    "memory:// for a single process",
    "bus": "check FLICK_BUS_URL; NATS must run with JetStream enabled (nats-server -js), or use "
    "local:///dir for a single process",
    "blobs": "check FLICK_BLOB_URL; for S3 check the endpoint, bucket and AWS_ACCESS_KEY_ID / "
    "AWS_SECRET_ACCESS_KEY; for file:// the directory must be writable",
    "schema": "run `flick migrate`",
}


async def run_checks(settings: Settings, console: Console) -> bool:
    """Print one line per backend; True when all are healthy."""
    from flick import bootstrap as b

    results = [
        await _check("sql", settings.resolved_db_url, lambda: _check_sql(settings), console),
        await _check(
            "cache", settings.cache_url, lambda: _ping(b.build_cache(settings.cache_url)), console
        ),
        await _check(
            "bus",
            settings.resolved_bus_url,
            lambda: _ping(
                b.build_bus(settings.resolved_bus_url, partitions=settings.bus_partitions)
            ),
            console,
        ),
        await _check(
            "blobs",
            settings.resolved_blob_url,
            lambda: _ping(b.build_blobs(settings.resolved_blob_url)),
            console,
        ),
        await _check(
            "schema",
            "every shard at the newest migration",
            lambda: _check_schema(settings),
            console,
        ),
    ]
    if all(results):
        console.print("[green]all backends healthy[/]")
    return all(results)


async def _check(
    name: str, target: str, probe: Callable[[], Awaitable[None]], console: Console
) -> bool:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as error:
        reason = str(error) or type(error).__name__
        if isinstance(error, TimeoutError):
            reason = f"no answer within {CHECK_TIMEOUT_S:g} s"
        console.print(
            f"[red]✗ {name}[/] {target}\n    problem: {reason[:300]}\n    fix: {HINTS[name]}"
        )
        return False
    console.print(f"[green]✓ {name}[/] {target}")
    return True


async def _ping(port_coro: Awaitable[object]) -> None:
    port = await port_coro
    try:
        await port.ping()  # type: ignore[attr-defined]
    finally:
        await port.close()  # type: ignore[attr-defined]


async def _check_sql(settings: Settings) -> None:
    from flick.bootstrap import build_database

    db = build_database(settings)
    try:
        await db.ping()
    finally:
        await db.close()


async def _check_schema(settings: Settings) -> None:
    from flick.bootstrap import build_database
    from flick.migrations import current_revisions, head_revision

    db = build_database(settings)
    try:
        revisions = await current_revisions(db)
    finally:
        await db.close()
    head = head_revision()
    behind = [url for url, rev in revisions.items() if rev != head]
    if behind:
        raise RuntimeError(f"not at migration {head}: {', '.join(behind)}")
