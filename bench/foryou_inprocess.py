"""For You in-process: `ForYou` called directly (no HTTP, no wrk sharing the cores) on
bench.foryou's world, on the embedded backends, after the world's events are consumed and
the index holds every admitted video. It tells what one assembly and one cache hit cost in
CPU, which bench.foryou's loads under 64 connections turn into a queue.

    .venv/bin/python -m bench.foryou_inprocess [--quick] [--no-model] [--assemblies 1000]
                                               [--rounds 2] [--gc-young N]

- cold: each viewer's first list (their Following inbox rebuilt, state read from SQL);
- warm: `--rounds` rounds of `--assemblies` first pages, viewers in turn (their second list
  and on), latency of each;
- hits: the pages of 100 viewers' lists, fetched by 64 concurrent callers, CPU per page
  and the latency of each.

Each phase also reports the garbage collector's pauses in it, by generation (count, total
and the share of the phase's wall time): `--gc-young` measures another young threshold
than the one serving uses (platform.collector).

Results go to var/bench/foryou_inprocess.json; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from tests.processes import FLICK

from bench.common import percentiles_ms, server_env
from bench.foryou import (
    FULL,
    QUICK,
    Shape,
    build_world,
    environment,
    high_water,
    train_model,
    wait_consumed,
)
from flick.bootstrap import Container, bootstrap, run_retrieval, run_workers
from flick.feed.api import for_you_body
from flick.gateway.metrics import COLLECTOR_PAUSES, GENERATIONS
from flick.platform.collector import OLDER_THRESHOLDS
from flick.platform.settings import Settings

RESULTS = Path("var/bench/foryou_inprocess.json")
CALLERS = 64  # concurrent hit pages, as bench.foryou's connections
HIT_VIEWERS = 100


def summary(seconds: list[float]) -> dict[str, float]:
    """bench.common's sample count, p50 and p99, and the mean (all in milliseconds)."""
    return {**percentiles_ms(seconds), "mean": 1000 * statistics.mean(seconds)}


def collector_pauses() -> dict[int, tuple[int, float]]:
    """(collections, seconds paused) so far, by generation."""
    return {g: (sum(COLLECTOR_PAUSES.buckets[g]), COLLECTOR_PAUSES.sums[g]) for g in GENERATIONS}


def pauses_since(before: dict[int, tuple[int, float]], wall_s: float) -> dict[str, Any]:
    """The collector's pauses since `before`: count and milliseconds by generation, and
    their share of `wall_s`."""
    now = collector_pauses()
    counts = {g: now[g][0] - before[g][0] for g in GENERATIONS}
    seconds = {g: now[g][1] - before[g][1] for g in GENERATIONS}
    return {
        **{f"gen{g}": {"n": counts[g], "ms": round(1000 * seconds[g], 1)} for g in GENERATIONS},
        "share": round(sum(seconds.values()) / wall_s, 4),
    }


async def assemblies(services: Container, viewers: list[int], count: int) -> dict[str, Any]:
    """`count` first pages, viewers in turn, one at a time."""
    seconds, before, started_all = [], collector_pauses(), time.perf_counter()
    for n in range(count):
        started = time.perf_counter()
        await for_you_body(services, viewers[n % len(viewers)], cursor=None, limit=20)
        seconds.append(time.perf_counter() - started)
    return {**summary(seconds), "gc": pauses_since(before, time.perf_counter() - started_all)}


async def hit_cursors(services: Container, viewers: list[int]) -> list[tuple[int, str]]:
    """(viewer, cursor) of every page their next list holds beyond its first."""
    found = []
    for viewer in viewers:
        body = orjson.loads(await for_you_body(services, viewer, cursor=None, limit=20))
        cursor = body["next_cursor"]
        list_id = cursor.partition(":")[0] if cursor else None
        while cursor and cursor.startswith(f"{list_id}:"):
            page = await for_you_body(services, viewer, cursor=cursor, limit=20)
            following = orjson.loads(page)["next_cursor"]
            if following and following.startswith(f"{list_id}:"):
                found.append((viewer, cursor))
            cursor = following
    return sorted(found, key=lambda pair: (int(pair[1].rsplit(":", 1)[1]), pair[0]))


async def hits(services: Container, cursors: list[tuple[int, str]], count: int) -> dict[str, Any]:
    """`count` cached pages fetched by CALLERS concurrent callers: wall and CPU per page, and
    each page's latency (mostly its wait behind the other callers' pages)."""
    numbers = iter(range(count))
    seconds: list[float] = []

    async def caller() -> None:
        for n in numbers:
            viewer, cursor = cursors[n % len(cursors)]
            page_started = time.perf_counter()
            await for_you_body(services, viewer, cursor=cursor, limit=20)
            seconds.append(time.perf_counter() - page_started)

    started, cpu, before = time.perf_counter(), time.process_time(), collector_pauses()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    wall = time.perf_counter() - started
    return {
        "n": count,
        "wall_us": wall / count * 1e6,
        "cpu_us": (time.process_time() - cpu) / count * 1e6,
        "latency": summary(seconds),
        "gc": pauses_since(before, wall),
    }


async def wait_for_index(services: Container, videos: int, *, timeout_s: float = 300) -> None:
    """Until this process's index replica can retrieve `videos` videos."""
    for _ in range(int(timeout_s / 0.5)):
        if services.retrieval is not None and len(services.retrieval.index) >= videos:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"the For You index did not reach {videos} videos")


async def measure(
    settings: Settings,
    tokens: list[str],
    shape: Shape,
    *,
    model: bool,
    count: int,
    rounds: int,
    gc_young: int | None,
) -> dict[str, Any]:
    last = await high_water(settings)
    services = await bootstrap(settings)
    stop = asyncio.Event()
    background = [
        asyncio.create_task(run_workers(services, stop)),
        asyncio.create_task(run_retrieval(services, stop)),
    ]
    try:
        await wait_consumed(settings, last)  # by this process's consumers
        if model:
            await wait_for_index(services, shape.admitted)
        if gc_young is not None:  # after run_retrieval settled the collector for serving
            gc.set_threshold(gc_young, *OLDER_THRESHOLDS)
        print(f"collector thresholds: {gc.get_threshold()}", flush=True)
        viewers = [await services.accounts.authenticate(token) for token in tokens]
        results: dict[str, Any] = {"cold": await assemblies(services, viewers, len(viewers))}
        print(f"cold: {results['cold']}", flush=True)
        results["warm"] = []
        for _ in range(rounds):
            results["warm"].append(await assemblies(services, viewers, count))
            print(f"warm: {results['warm'][-1]}", flush=True)
        cursors = await hit_cursors(services, viewers[:HIT_VIEWERS])
        results["hits"] = [await hits(services, cursors, 20 * count) for _ in range(rounds)]
        print(f"hits: {results['hits']}", flush=True)
        return results
    finally:
        stop.set()
        await asyncio.gather(*background)
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="bench.foryou's small world")
    parser.add_argument("--no-model", action="store_true", help="no trained model")
    parser.add_argument("--assemblies", type=int, default=1_000, help="per warm round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--gc-young",
        type=int,
        help="the collector's young threshold to measure with (default: platform.collector's)",
    )
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="flick-foryou-") as scratch:
        env = server_env(Path(scratch) / "data")
        subprocess.run([FLICK, "migrate"], env={**os.environ, **env}, check=True)
        with environment(env):
            settings = Settings()
            world = asyncio.run(build_world(shape, settings, random.Random(6)))
            if not args.no_model:
                train_model(env)
            results = asyncio.run(
                measure(
                    settings,
                    world.tokens,
                    shape,
                    model=not args.no_model,
                    count=args.assemblies,
                    rounds=args.rounds,
                    gc_young=args.gc_young,
                )
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"shape": vars(shape), "args": vars(args), **results}, indent=2))


if __name__ == "__main__":
    main()
