"""The `flick` command line: serve, migrate, doctor, train, simulate, recs, search."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from flick.platform.settings import Settings, load_settings
from flick.recs.cli import recs, simulate, train  # light: torch loads inside each command

if TYPE_CHECKING:
    from flick.bootstrap import Container

console = Console(stderr=True, soft_wrap=True)  # whole lines, so logs and greps see them intact
ROLES = ("all", "api", "relay", "worker", "background", "search")
BACKGROUND_RELAY_POLL_S = "0.02"  # the relay polls: the API commits in other processes
# Granian runs request coroutines as asyncio Tasks. Its Rust task implementation ran them
# ~25 % faster on GET /api/v1/me, but it keeps every Future a request awaits alive forever
# (granian 2.8.7: 148,000 after 4 s of wrk on a route awaiting one): memory grew without end
# and full collections took 60 ms and more within a minute, which showed in feeds' p99.
# tests/integration/test_serving.py holds the server to this.
TASK_IMPL = "asyncio"


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
    help="all: API + relay + worker in one process (with --workers N: N API processes and one "
    "background process); api: HTTP only; relay: outbox -> bus; worker: transcode jobs, "
    "counters, upload expiry; background: relay + worker; search: HTTP with a search replica",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path), help="for the embedded backends")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API processes; the processes share the cache, so the embedded one becomes the "
    "shared file (lmdb://) when it was the in-process one (memory://)",
)
@click.option(
    "--background-process",
    is_flag=True,
    help="with --role all: the relay and the worker in a process of their own beside the API "
    "(always so with --workers > 1); the API process then only serves requests",
)
def serve(
    role: str,
    host: str,
    port: int,
    data_dir: Path | None,
    workers: int,
    background_process: bool,
) -> None:
    """Run the platform, or one role of it."""
    if data_dir is not None:
        os.environ["FLICK_DATA_DIR"] = str(data_dir.resolve())
    settings = load_settings()
    if role in ("relay", "background") and workers > 1:
        raise click.UsageError(f"--role {role} runs once: --workers applies to the API roles")
    split = role == "all" and (workers > 1 or background_process)
    if workers > 1 or split:
        settings = _shared_cache(settings)
    if role == "relay":
        asyncio.run(_run_relay(settings))
        return
    _auto_migrate_embedded(settings)
    if role in ("worker", "background"):
        asyncio.run(_run_worker(settings, relay=role == "background"))
        return
    if split:
        # Each API process running its own relay and transcode worker would race on the
        # outbox and on a video's files: one background process runs them for all.
        with _background_process():
            _serve_http("api", host=host, port=port, workers=workers)
        return
    _serve_http(role, host=host, port=port, workers=workers)


def _shared_cache(settings: Settings) -> Settings:
    """Several processes must share one cache: the in-process one becomes the shared file
    (the environment carries the choice into Granian's workers and the background process)."""
    if settings.cache_url.startswith("memory://"):
        os.environ["FLICK_CACHE_URL"] = "lmdb://"
        console.print("several processes share the cache: using the shared file cache (lmdb://)")
        return settings.model_copy(update={"cache_url": "lmdb://"})
    return settings


@contextlib.contextmanager
def _background_process() -> Iterator[None]:
    """`flick serve --role background` beside the API processes, stopped with them. It is
    in this process group, so a signal to the group (Ctrl-C) reaches it too."""
    env = {**os.environ}
    env.setdefault("FLICK_RELAY_POLL_S", BACKGROUND_RELAY_POLL_S)
    command = [sys.executable, "-m", "flick.cli", "serve", "--role", "background"]
    child = subprocess.Popen(command, env=env)
    try:
        yield
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


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
    target = {
        "all": "flick.gateway.asgi:all_in_one",
        "search": "flick.gateway.app:search_only",
    }.get(role, "flick.gateway.asgi:api_only")
    console.print(f"Flick ({role}) on http://{host}:{port}  docs: http://{host}:{port}/docs")
    granian_server(target, host=host, port=port, workers=workers).serve()


def granian_server(target: str, *, host: str, port: int, workers: int = 1) -> Any:
    """The Granian server `flick serve` runs: the ASGI app factory `target` ("module:name")
    on uvloop (benches and tests serve theirs with the same settings)."""
    from granian import Granian
    from granian.constants import Interfaces, Loops, TaskImpl

    return Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        task_impl=TaskImpl(TASK_IMPL),
        factory=True,
        log_access=False,
    )


async def _run_relay(settings: Settings) -> None:
    async def relay(services: Container, stop: asyncio.Event) -> None:
        try:
            await services.relay.run(stop)
        finally:
            console.print(f"relay stopped after publishing {services.relay.published} events")

    await _run_until_signal(settings, relay, banner="outbox relay running; Ctrl-C stops it")


async def _run_worker(settings: Settings, *, relay: bool = False) -> None:
    from flick.bootstrap import run_workers

    async def worker_and_relay(services: Container, stop: asyncio.Event) -> None:
        await asyncio.gather(services.relay.run(stop), run_workers(services, stop))

    banner = "worker running (transcode jobs, counters, upload expiry); Ctrl-C stops it"
    if relay:
        await _run_until_signal(settings, worker_and_relay, banner=f"relay and {banner}")
    else:
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
