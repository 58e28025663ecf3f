"""The `flick` command line: serve, migrate, doctor, train, simulate, recs, search."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from flick.platform.settings import Settings, load_settings
from flick.recs.cli import recs, simulate, train  # light: torch loads inside each command

if TYPE_CHECKING:
    from flick.bootstrap import Container

console = Console(stderr=True, soft_wrap=True)  # whole lines, so logs and greps see them intact
ROLES = ("all", "api", "relay", "worker", "search")
# Granian's Rust task implementation runs coroutines with less overhead than asyncio's Task
# (about +25% req/s on GET /api/v1/me here, docs/benchmarks.md); it exists up to Python 3.11.
TASK_IMPL = "rust" if sys.version_info < (3, 12) else "asyncio"  # a granian TaskImpl value


@click.group()
@click.version_option(package_name="flick")
def main() -> None:
    """Flick: a self-hostable short-video platform."""
    logging.basicConfig(
        level=os.environ.get("FLICK_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command()
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="all",
    show_default=True,
    help="all: API + relay + worker in one process; api: HTTP only; relay: outbox -> bus; "
    "worker: transcode jobs, counters, upload expiry; search: HTTP with a search replica only",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path), help="for the embedded backends")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="API worker processes (needs shared backends: PostgreSQL, Redis, NATS)",
)
def serve(role: str, host: str, port: int, data_dir: Path | None, workers: int) -> None:
    """Run the platform, or one role of it."""
    if workers > 1 and role == "all":
        # Each process would run its own transcode worker in one consumer group, and two
        # jobs for one video would race on its files.
        raise click.UsageError(
            "--workers > 1 needs --role api; run the relay and the transcode worker as their "
            "own processes (flick serve --role relay, flick serve --role worker)"
        )
    if data_dir is not None:
        os.environ["FLICK_DATA_DIR"] = str(data_dir.resolve())
    settings = load_settings()
    if role == "relay":
        asyncio.run(_run_relay(settings))
        return
    _auto_migrate_embedded(settings)
    if role == "worker":
        asyncio.run(_run_worker(settings))
        return
    _serve_http(role, host=host, port=port, workers=workers)


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path))
def migrate(data_dir: Path | None) -> None:
    """Create or upgrade the schema in every database of the shard map."""
    if data_dir is not None:
        os.environ["FLICK_DATA_DIR"] = str(data_dir.resolve())
    for url in asyncio.run(_migrate(load_settings())):
        console.print(f"[green]migrated[/] {url}")


@main.command()
def doctor() -> None:
    """Check every configured backend and say what is wrong and how to fix it."""
    from flick.doctor import run_checks

    ok = asyncio.run(run_checks(load_settings(), console))
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--videos", default=200, show_default=True, help="clips to make and publish")
@click.option("--viewers", default=300, show_default=True, help="simulated viewers")
@click.option("--seed", default=7, show_default=True, help="the world's random seed")
@click.option("--data-dir", type=click.Path(path_type=Path), help="for the embedded backends")
@click.option("--serve", is_flag=True, help="then serve the platform, as `flick serve` does")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(
    videos: int, viewers: int, seed: int, data_dir: Path | None, serve: bool, host: str, port: int
) -> None:
    """Seed the demo world (creators, clips, viewers, a trained recommender) unless it is
    there already; print the address and the demo login. A world once made is reused."""
    from flick.demo.cli import run_demo

    if data_dir is not None:
        os.environ["FLICK_DATA_DIR"] = str(data_dir.resolve())
    settings = load_settings()
    _auto_migrate_embedded(settings)
    run_demo(settings, videos=videos, viewers=viewers, seed=seed, address=f"http://{host}:{port}")
    if serve:
        # Exactly `flick serve`, in a fresh process: nothing of the seeding (its threads,
        # pools, torch) carries into the server's worker.
        command = ["-m", "flick.cli", "serve", "--host", host, "--port", str(port)]
        os.execv(sys.executable, [sys.executable, *command])


async def _migrate(settings: Settings) -> list[str]:
    from flick.bootstrap import build_database
    from flick.migrations import upgrade_all

    db = build_database(settings)
    try:
        return await upgrade_all(db)
    finally:
        await db.close()


def _auto_migrate_embedded(settings: Settings) -> None:
    # One laptop process owns its SQLite file, so it may migrate itself; shared PostgreSQL
    # databases are migrated deliberately with `flick migrate`.
    if settings.resolved_db_url.startswith("sqlite") and not settings.db_shards:
        asyncio.run(_migrate(settings))


def _serve_http(role: str, *, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops, TaskImpl

    target = {
        "all": "flick.gateway.asgi:all_in_one",
        "search": "flick.gateway.app:search_only",
    }.get(role, "flick.gateway.asgi:api_only")
    console.print(f"Flick ({role}) on http://{host}:{port}  docs: http://{host}:{port}/docs")
    Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        task_impl=TaskImpl(TASK_IMPL),
        factory=True,
        log_access=False,
    ).serve()


async def _run_relay(settings: Settings) -> None:
    async def relay(services: Container, stop: asyncio.Event) -> None:
        try:
            await services.relay.run(stop)
        finally:
            console.print(f"relay stopped after publishing {services.relay.published} events")

    await _run_until_signal(settings, relay, banner="outbox relay running; Ctrl-C stops it")


async def _run_worker(settings: Settings) -> None:
    from flick.bootstrap import run_workers

    banner = "worker running (transcode jobs, counters, upload expiry); Ctrl-C stops it"
    await _run_until_signal(settings, run_workers, banner=banner)


async def _run_until_signal(
    settings: Settings,
    role: Callable[[Container, asyncio.Event], Awaitable[None]],
    *,
    banner: str,
) -> None:
    """Run a background role over freshly connected services until SIGINT or SIGTERM."""
    from flick.bootstrap import bootstrap

    services = await bootstrap(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    console.print(banner)
    try:
        await role(services, stop)
    finally:
        await services.close()


@main.group()
def search() -> None:
    """The search index."""


@search.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="for the embedded backends")
def reindex(data_dir: Path | None) -> None:
    """Rebuild the search index from SQL (every user and ready video) as the base snapshot
    that search replicas start from; running replicas keep theirs, fed by the bus."""
    if data_dir is not None:
        os.environ["FLICK_DATA_DIR"] = str(data_dir.resolve())
    settings = load_settings()
    _auto_migrate_embedded(settings)
    users, videos = asyncio.run(_reindex(settings))
    console.print(f"[green]indexed[/] {users} users and {videos} videos")


async def _reindex(settings: Settings) -> tuple[int, int]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from flick.bootstrap import bootstrap
    from flick.search.consumers import search_dir
    from flick.search.service import rebuild

    services = await bootstrap(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            tasks = {what: bar.add_task(f"{what}: 0", total=None) for what in ("users", "videos")}

            def progress(what: str, done: int) -> None:
                bar.update(tasks[what], description=f"{what}: {done:,}")

            return await rebuild(
                search_dir(settings.data_dir),
                accounts=services.accounts,
                videos=services.videos,
                progress=progress,
            )
    finally:
        await services.close()


main.add_command(train)
main.add_command(simulate)
main.add_command(recs)

if __name__ == "__main__":
    main()
