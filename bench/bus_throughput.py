"""Bus publish-and-consume throughput: the embedded SQLite log and NATS JetStream.

    .venv/bin/python -m bench.bus_throughput [--events N] [--batch B] [--repeats R]

One run publishes N events in batches of B (each batch durable, or PubAck'd, before the next)
while one consumer group drains every partition, committing its offset every
COMMIT_INTERVAL_S per partition (as Kafka's auto-commit does) and once more at the end; the
clock stops when the last event is consumed and committed. Reports the median of R runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from flick.platform.bus import Bus, Event
from flick.platform.bus.local import LocalBus
from flick.platform.bus.nats import NatsBus

RESULTS = Path("var/bench/bus_throughput.json")
PARTITIONS = 16
NATS_URL = "nats://127.0.0.1:4222"
COMMIT_INTERVAL_S = 0.05


async def one_run(bus: Bus, *, events: int, batch: int) -> float:
    """Seconds to publish `events` and see them all consumed and committed."""
    payload = {"video_id": "1234567890123", "watched_ms": 5300, "completed": True}
    consumed = 0
    done = asyncio.Event()

    last_offsets: dict[int, int] = {}
    committed: dict[int, int] = {}

    async def commit(partition: int) -> None:
        offset = last_offsets.get(partition, 0)
        if offset > committed.get(partition, 0):
            await bus.commit("watch", group="bench", partition=partition, offset=offset)
            committed[partition] = offset

    async def consume(partition: int) -> None:
        nonlocal consumed
        last_commit = time.perf_counter()
        while not done.is_set():
            got = await bus.fetch(
                "watch", group="bench", partition=partition, max_messages=batch, timeout=0.2
            )
            if got:
                last_offsets[partition] = got[-1].offset
                consumed += len(got)
                if consumed >= events:
                    done.set()
            if time.perf_counter() - last_commit > COMMIT_INTERVAL_S:
                await commit(partition)
                last_commit = time.perf_counter()

    started = time.perf_counter()
    consumers = [asyncio.create_task(consume(p)) for p in range(bus.partitions)]
    for first in range(0, events, batch):
        count = min(batch, events - first)
        await bus.publish(
            "watch",
            [Event(type="watch.ended", key=first + i, payload=payload) for i in range(count)],
        )
    await done.wait()
    await asyncio.gather(*(commit(p) for p in range(bus.partitions)))  # inside the clock
    elapsed = time.perf_counter() - started
    await asyncio.gather(*consumers)
    return elapsed


async def measure(
    name: str, open_bus: Callable[[], Awaitable[Bus]], args: argparse.Namespace
) -> dict[str, Any]:
    """Run `one_run` `args.repeats` times on fresh buses; the median and every rate."""
    rates = []
    for run in range(args.repeats):
        bus = await open_bus()
        try:
            seconds = await one_run(bus, events=args.events, batch=args.batch)
        finally:
            if isinstance(bus, NatsBus):
                await bus.destroy()
            await bus.close()
        rates.append(args.events / seconds)
        print(f"{name} run {run + 1}/{args.repeats}: {rates[-1]:,.0f} events/s", flush=True)
    return {"median_events_per_s": statistics.median(rates), "runs": rates}


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Measure the embedded bus, then JetStream."""
    results = {}
    with tempfile.TemporaryDirectory() as scratch:

        async def local() -> Bus:
            return LocalBus(Path(scratch) / uuid.uuid4().hex, partitions=PARTITIONS)

        results["embedded (SQLite log)"] = await measure("embedded", local, args)

    async def jetstream() -> Bus:
        return await NatsBus.connect(
            NATS_URL, partitions=PARTITIONS, namespace=f"b{uuid.uuid4().hex[:8]}"
        )

    results["NATS JetStream"] = await measure("jetstream", jetstream, args)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = uvloop.run(main_async(args))  # as in `flick serve`: Granian runs on uvloop
    print(f"\n| bus | events/s (median of {args.repeats}) |\n|---|---|")
    for name, result in results.items():
        print(f"| {name} | {result['median_events_per_s']:,.0f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
