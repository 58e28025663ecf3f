"""For You under load (issue 6): GET /api/v1/feed/foryou under 64 connections on a world of
10,000 users and 100,000 ready videos, on the embedded backends and on Redis + PostgreSQL
(+ NATS), next to the same server's /healthz in the same run; and on the embedded files served
by several API processes (`flick serve --workers N`, the shared file cache).

    .venv/bin/python -m bench.foryou [--quick] [--backends embedded,embedded-workers,cluster]
                                     [--workers 2] [--profile] [--no-model]

The world is written straight into the stores, in transactions of 1,000 rows through the
domains' tables (no HTTP): users (the wrk viewers signed up through the Accounts service for
their tokens), videos over 2,000 creators, follows; then events on the bus, as the outbox
relay would publish them: `video.ready` for the newest videos (exploration admits them, the
fan-out pushes them to followers) and counted watches (the signals consumer makes trending of
them), with the same watches in the watch history. `flick train` then trains the two towers
on that history (one epoch; `--no-model` skips it, and For You runs without its retrieval
source, as every run before 2026-11-25 did). `flick serve --role all` then consumes the events;
the bench waits until every consumer group has committed the last offset and the server's
For You index (its /metrics gauge) holds every admitted video.

Two loads, each in alternate rounds with /healthz:
- cache hits: wrk pages through cursors `<list id>:<offset>` of lists assembled beforehand
  (every request reads a cached list; the pages a list holds are found by walking it);
- full assembly: wrk without a cursor (each request ranks a fresh list).
The priming walk also times one first-page assembly per viewer on the idle server.

Results go to var/bench/foryou.json; docs/benchmarks.md records them with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.processes import FLICK, FlickProcess

from bench.common import latency_ms, percentiles_ms, server_env, start_profile
from flick.accounts import repository as accounts_repo
from flick.bootstrap import Container, bootstrap
from flick.feed.consumers import GROUP as FANOUT_GROUP
from flick.ingest import repository as ingest_repo
from flick.ingest.events import TOPIC as VIDEO_TOPIC
from flick.ingest.events import VideoReady
from flick.notify.consumers import GROUP as NOTIFY_GROUP
from flick.platform.ids import new_id, random_shard, shard_of
from flick.platform.settings import Settings
from flick.platform.sql import DIRECTORY_SHARD
from flick.recs import repository as recs_repo
from flick.recs.consumers import EXPLORE_GROUP
from flick.recs.consumers import GROUP as SIGNALS_GROUP
from flick.recs.events import WATCH, watched_event
from flick.social import repository as social_repo

RESULTS = Path("var/bench/foryou.json")
PROFILES = Path("var/bench/foryou-profiles")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/9"
NATS_URL = "nats://127.0.0.1:4222"
CONNECTIONS = 64
PAGE = 20
ROWS_PER_TRANSACTION = 1_000
PASSWORD = "bench password"


@dataclass(frozen=True)
class Shape:
    users: int
    creators: int
    videos: int
    viewers: int  # signed up through the service: their tokens drive wrk
    hit_viewers: int  # viewers whose lists are walked for the cache-hit load
    follows: int  # creators each viewer follows
    admitted: int  # newest videos with a `video.ready` event (exploration, fan-out)
    trending: int  # videos with synthetic counted watches
    rounds: int
    hit_s: int
    assembly_s: int


FULL = Shape(10_000, 2_000, 100_000, 500, 100, 40, 5_000, 3_000, 3, 5, 10)
QUICK = Shape(1_000, 200, 5_000, 100, 30, 20, 1_000, 500, 2, 3, 5)


@dataclass
class World:
    tokens: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)


# --- backends -------------------------------------------------------------------------------


async def create_database() -> str:
    import asyncpg

    name = f"flick_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"{POSTGRES_ADMIN}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_backends(env: dict[str, str]) -> None:
    import asyncpg

    from flick.platform.bus.nats import NatsBus
    from flick.platform.cache.redis import RedisCache

    bus = await NatsBus.connect(NATS_URL, partitions=16, namespace=env["FLICK_BUS_NAMESPACE"])
    await bus.destroy()
    await bus.close()
    cache = RedisCache.from_url(REDIS_URL, prefix=env["FLICK_CACHE_PREFIX"])
    await cache.clear_prefix()
    await cache.close()
    name = env["FLICK_DB_URL"].rsplit("/", 1)[1]
    conn = await asyncpg.connect(f"{POSTGRES_ADMIN}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """`env` in os.environ for Settings() of this process, restored afterwards."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- the world ------------------------------------------------------------------------------


async def insert_rows(services: Container, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Rows grouped by the database of their shard key ("_shard"), 1,000 per transaction."""
    by_engine: dict[AsyncEngine, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        shard = row.pop("_shard")
        by_engine[services.db.engine_for_shard(shard)].append(row)
    for engine, found in by_engine.items():
        for at in range(0, len(found), ROWS_PER_TRANSACTION):
            async with services.db.begin(engine) as conn:
                await conn.execute(insert(table), found[at : at + ROWS_PER_TRANSACTION])


async def build_world(shape: Shape, settings: Settings, rng: random.Random) -> World:
    world = World()
    services = await bootstrap(settings)
    try:
        started = time.monotonic()
        viewer_ids = []
        for number in range(shape.viewers):
            signed = await services.accounts.signup(f"fan{number}", password=PASSWORD)
            world.tokens.append(signed.token)
            viewer_ids.append(signed.user.id)
        world.timings["viewers_signed_up_s"] = time.monotonic() - started

        mark = time.monotonic()
        password_hash = await services.accounts.hasher.hash(PASSWORD)
        now = time.time()
        user_ids = [new_id(random_shard()) for _ in range(shape.users - shape.viewers)]
        users, directory = [], []
        for number, user_id in enumerate(user_ids):
            name = f"maker{number}"
            users.append(
                {
                    "_shard": shard_of(user_id),
                    "id": user_id,
                    "username": name,
                    "display_name": name,
                    "bio": "",
                    "password_hash": password_hash,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            directory.append(
                {"_shard": DIRECTORY_SHARD, "username": name, "user_id": user_id, "claimed_at": now}
            )
        await insert_rows(services, accounts_repo.users, users)
        await insert_rows(services, accounts_repo.username_directory, directory)
        world.timings["users_inserted_s"] = time.monotonic() - mark

        mark = time.monotonic()
        creators = user_ids[: shape.creators]
        owners = [creators[n % len(creators)] for n in range(shape.videos)]
        video_ids = [new_id(shard_of(owner)) for owner in owners]
        media = orjson.dumps({"duration_s": 10.0})
        assets, refs, videos = [], [], []
        for n, (video_id, owner) in enumerate(zip(video_ids, owners, strict=True)):
            sha = f"{n:064x}"
            at = now - (shape.videos - n) * 0.5  # one upload every half second, oldest first
            assets.append(
                {
                    "_shard": DIRECTORY_SHARD,
                    "sha256": sha,
                    "status": "ready",
                    "source_upload_id": 1,
                    "progress": 1.0,
                    "media": media,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            refs.append(
                {"_shard": DIRECTORY_SHARD, "sha256": sha, "video_id": video_id, "owner_id": owner}
            )
            videos.append(
                {
                    "_shard": shard_of(video_id),
                    "id": video_id,
                    "owner_id": owner,
                    "asset": sha,
                    "caption": f"clip {n} #bench",
                    "hashtags": b'["bench"]',
                    "status": "ready",
                    "error": None,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        await insert_rows(services, ingest_repo.media_assets, assets)
        await insert_rows(services, ingest_repo.asset_refs, refs)
        await insert_rows(services, ingest_repo.videos, videos)
        world.timings["videos_inserted_s"] = time.monotonic() - mark

        mark = time.monotonic()
        follows, followers = [], []
        for viewer in viewer_ids:
            for creator in rng.sample(creators, min(shape.follows, len(creators))):
                follows.append(
                    {
                        "_shard": shard_of(viewer),
                        "follower_id": viewer,
                        "followee_id": creator,
                        "edge_id": new_id(shard_of(viewer)),
                        "created_at": now,
                    }
                )
                followers.append(
                    {
                        "_shard": shard_of(creator),
                        "followee_id": creator,
                        "follower_id": viewer,
                        "edge_id": new_id(shard_of(creator)),
                        "created_at": now,
                    }
                )
        await insert_rows(services, social_repo.follows, follows)
        await insert_rows(services, social_repo.followers, followers)
        world.timings["follows_inserted_s"] = time.monotonic() - mark

        mark = time.monotonic()
        ready = [
            VideoReady(v, o, f"clip {n}", ["bench"], 10.0, now).to_event()
            for n, (v, o) in enumerate(zip(video_ids, owners, strict=True))
        ][-shape.admitted :]
        watches, history = [], []
        for video_id in rng.sample(range(shape.videos), shape.trending):
            for _ in range(rng.randint(1, 10)):
                watched_ms = rng.randint(500, 10_000)
                viewer = rng.choice(viewer_ids)
                watch = {
                    "video_id": video_ids[video_id],
                    "watched_ms": watched_ms,
                    "duration_ms": 10_000,
                    "completed": watched_ms == 10_000 or rng.random() < 0.4,
                    "replays": 0,
                    "quick_skip": watched_ms < 1_000,
                }
                watches.append(
                    watched_event(
                        viewer, creator_id=owners[video_id], counted=True, ts=now, **watch
                    )
                )
                # The watch history too, as the watch service writes it: viewers' recent
                # watches (seen, and the user tower's input) and `flick train`'s examples.
                history.append(
                    {
                        "_shard": shard_of(viewer),
                        "id": new_id(shard_of(viewer)),
                        "user_id": viewer,
                        "watched_at": now,
                        **watch,
                    }
                )
        await insert_rows(services, recs_repo.watch_history, history)
        for topic, events in ((VIDEO_TOPIC, ready), (WATCH, watches)):
            for at in range(0, len(events), ROWS_PER_TRANSACTION):
                await services.bus.publish(topic, events[at : at + ROWS_PER_TRANSACTION])
        world.events = {"video.ready": len(ready), "recs.video_watched": len(watches)}
        world.timings["events_published_s"] = time.monotonic() - mark
        world.timings["world_written_s"] = time.monotonic() - started
    finally:
        await services.close()
    return world


async def high_water(settings: Settings) -> dict[tuple[str, int], int]:
    """The last offset of every non-empty partition of the two topics, read by a probe group."""
    services = await bootstrap(settings)
    last: dict[tuple[str, int], int] = {}
    try:
        for topic in (VIDEO_TOPIC, WATCH):
            for partition in range(services.bus.partitions):
                while True:
                    found = await services.bus.fetch(
                        topic,
                        group="bench.probe",
                        partition=partition,
                        max_messages=5_000,
                        timeout=0.05,
                    )
                    if not found:
                        break
                    last[(topic, partition)] = found[-1].offset
                    await services.bus.commit(
                        topic, group="bench.probe", partition=partition, offset=found[-1].offset
                    )
    finally:
        await services.close()
    return last


async def wait_consumed(settings: Settings, last: dict[tuple[str, int], int]) -> float:
    """Seconds until exploration, the fan-out, the notifier ("a creator you follow posted")
    and the signals consumer have committed every event the world published, so the loads
    do not share the server with the world's own aftermath."""
    groups = {VIDEO_TOPIC: (EXPLORE_GROUP, FANOUT_GROUP, NOTIFY_GROUP), WATCH: (SIGNALS_GROUP,)}
    services = await bootstrap(settings)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 300:
            behind = 0
            for (topic, partition), offset in last.items():
                for group in groups[topic]:
                    done = await services.bus.committed(topic, group=group, partition=partition)
                    behind += done is None or done < offset
            if not behind:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await services.close()
    raise SystemExit("the server's consumers did not catch up with the world's events")


def train_model(env: dict[str, str]) -> None:
    """`flick train` on the world's watch history: one epoch, a fixed popularity weight (no
    validation split to choose one) and the hashed n-gram text encoder (MiniLM would embed
    100,000 captions first), so the For You index serves a model as it would after training."""
    command = [FLICK, "train", "--source", "platform", "--epochs", "1"]
    command += ["--popularity-weight", "0.5", "--text", "hashed-ngrams"]
    subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True)


def wait_for_index(url: str, videos: int, *, timeout_s: float = 300) -> float:
    """Seconds until the server's index replica can retrieve `videos` videos (its /metrics
    gauge), read on several scrapes in a row so every API process of `--workers` has shown
    it (each keeps its own replica, and a scrape reaches one of them)."""
    started, in_a_row = time.monotonic(), 0
    with httpx.Client(base_url=url, timeout=10) as http:
        while time.monotonic() - started < timeout_s:
            found = re.search(r"^flick_recs_index_videos (\S+)$", http.get("/metrics").text, re.M)
            in_a_row = in_a_row + 1 if found and float(found.group(1)) >= videos else 0
            if in_a_row == 8:
                return time.monotonic() - started
            time.sleep(0.25)
    raise SystemExit(f"the server's For You index did not reach {videos} videos")


# --- load -----------------------------------------------------------------------------------

URL = "/api/v1/feed/foryou"
HITS_LUA = """
tokens = {%s}
cursors = {%s}
counter = 0
request = function()
  -- consecutive requests: different viewers, then the next page of each
  local n = counter %% #cursors
  counter = counter + 1
  return wrk.format("GET", "%s?cursor=" .. cursors[n + 1][2],
    {["Authorization"] = "Bearer " .. tokens[cursors[n + 1][1]]})
end
"""
ASSEMBLY_LUA = """
tokens = {%s}
counter = 0
request = function()
  local n = counter %% #tokens
  counter = counter + 1
  return wrk.format("GET", "%s", {["Authorization"] = "Bearer " .. tokens[n + 1]})
end
"""


def prime(url: str, tokens: list[str]) -> tuple[list[tuple[int, str]], list[float], list[int]]:
    """Walk each viewer's first list: (viewer index, cursor) pairs that hit it, the idle
    latency of each first-page assembly, and each list's length in pages."""
    cursors, assembly, pages = [], [], []
    with httpx.Client(base_url=url, timeout=60) as http:
        for index, token in enumerate(tokens):
            headers = {"Authorization": f"Bearer {token}"}
            sent = time.perf_counter()
            answer = http.get(URL, headers=headers)
            answer.raise_for_status()
            assembly.append(time.perf_counter() - sent)
            cursor = answer.json()["next_cursor"]
            list_id, count = cursor.partition(":")[0] if cursor else None, 0
            while cursor and cursor.startswith(f"{list_id}:"):
                answer = http.get(URL, params={"cursor": cursor}, headers=headers)
                answer.raise_for_status()
                following = answer.json()["next_cursor"]
                if following and following.startswith(f"{list_id}:"):
                    cursors.append((index + 1, cursor))  # the list held this page: a hit
                    count += 1
                cursor = following
            pages.append(count + 1)
    return cursors, assembly, pages


def still_hits(url: str, tokens: list[str], cursors: list[tuple[int, str]]) -> float:
    """The share of these cursors whose page still comes from the same cached list (a miss
    would answer with a new list id): checks that the hit load measured hits."""
    same = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        for index, cursor in cursors:
            headers = {"Authorization": f"Bearer {tokens[index - 1]}"}
            answer = http.get(URL, params={"cursor": cursor}, headers=headers)
            answer.raise_for_status()
            following = answer.json()["next_cursor"] or ""
            same += following.startswith(cursor.partition(":")[0] + ":")
    return same / max(len(cursors), 1)


def run_wrk(
    url: str, *, seconds: int, script: Path | None = None, connections: int = CONNECTIONS
) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise SystemExit(f"{url}: wrk saw errors; the figures would lie:\n{out}")
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency_ms(out, "50%"),
        "p99_ms": latency_ms(out, "99%"),
    }


def measure_load(
    server: FlickProcess, world: World, shape: Shape, scratch: Path, *, name: str, profile: bool
) -> dict[str, Any]:
    mark = time.monotonic()
    cursors, assembly_idle, pages = prime(server.url, world.tokens[: shape.hit_viewers])
    primed_s = time.monotonic() - mark
    if not cursors:
        raise SystemExit("no viewer's list held a second page: nothing to measure hits on")
    tokens = ",".join(f'"{token}"' for token in world.tokens)
    hits = scratch / "hits.lua"
    pairs = sorted(cursors, key=lambda pair: (int(pair[1].rsplit(":", 1)[1]), pair[0]))
    hits.write_text(HITS_LUA % (tokens, ",".join(f'{{{i}, "{c}"}}' for i, c in pairs), URL))
    assembly = scratch / "assembly.lua"
    assembly.write_text(ASSEMBLY_LUA % (tokens, URL))
    bare = f"{server.url}/healthz"
    assert server.proc is not None
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "hit": [], "assembly": []}
    run_wrk(bare, seconds=1)  # warm-up
    for round_number in range(shape.rounds):  # alternate, so drift hits all alike
        runs["bare"].append(run_wrk(bare, seconds=shape.hit_s))
        spy = (
            profile
            and round_number == 0
            and start_profile(server.proc.pid, PROFILES / f"{name}-hit.txt", 4)
        )
        runs["hit"].append(run_wrk(server.url, seconds=shape.hit_s, script=hits))
        if spy:
            spy.wait()
        print(f"{name} round {round_number + 1}: bare {runs['bare'][-1]}", flush=True)
        print(f"{name} round {round_number + 1}: hit {runs['hit'][-1]}", flush=True)
    hits_verified = still_hits(server.url, world.tokens, pairs[:: max(1, len(pairs) // 20)])
    for round_number in range(2):
        spy = (
            profile
            and round_number == 0
            and start_profile(server.proc.pid, PROFILES / f"{name}-asm.txt", 8)
        )
        runs["assembly"].append(run_wrk(server.url, seconds=shape.assembly_s, script=assembly))
        if spy:
            spy.wait()
        runs["bare"].append(run_wrk(bare, seconds=shape.hit_s))
        print(f"{name} assembly {round_number + 1}: {runs['assembly'][-1]}", flush=True)
    return {
        "primed_viewers": len(pages),
        "primed_s": primed_s,
        "pages_per_list": {"min": min(pages), "median": statistics.median(pages)},
        "hit_cursors": len(cursors),
        "hits_verified_after_hit_rounds": hits_verified,
        "assembly_idle_ms": percentiles_ms(assembly_idle),
        "medians": {
            kind: {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_ms", "p99_ms")}
            for kind, rounds in runs.items()
        },
        "assembly_requests": sum(int(r["requests"]) for r in runs["assembly"]),
        "runs": runs,
    }


# --- one backend ----------------------------------------------------------------------------


def run_backend(
    name: str, shape: Shape, scratch: Path, *, profile: bool, workers: int, model: bool
) -> dict[str, Any]:
    data_dir = scratch / name
    env = server_env(data_dir)
    serve_args: tuple[str, ...] = ()
    if name == "embedded-workers":
        # The embedded files with `workers` API processes and a background process, agreeing
        # through the shared file cache (flick serve --workers N chooses it).
        serve_args = ("--workers", str(workers))
        env["FLICK_CACHE_URL"] = "lmdb://"
    if name == "cluster":
        tag = f"fyb{uuid.uuid4().hex[:8]}"
        env |= {
            "FLICK_DB_URL": f"{POSTGRES_ADMIN}/{asyncio.run(create_database())}",
            "FLICK_CACHE_URL": REDIS_URL,
            "FLICK_CACHE_PREFIX": f"{tag}:",
            "FLICK_BUS_URL": NATS_URL,
            "FLICK_BUS_NAMESPACE": tag,
        }
    try:
        return _run_backend(
            name, env, shape, scratch, profile=profile, serve_args=serve_args, model=model
        )
    finally:
        if name == "cluster":
            asyncio.run(drop_backends(env))


def _run_backend(
    name: str,
    env: dict[str, str],
    shape: Shape,
    scratch: Path,
    *,
    profile: bool,
    serve_args: tuple[str, ...],
    model: bool,
) -> dict[str, Any]:
    started = time.monotonic()
    subprocess.run([FLICK, "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
    with environment(env):
        settings = Settings()
    world = asyncio.run(build_world(shape, settings, random.Random(6)))
    if model:
        mark = time.monotonic()
        train_model(env)
        world.timings["model_trained_s"] = time.monotonic() - mark
    last = asyncio.run(high_water(settings))
    log = scratch / f"{name}-server.log"
    server = FlickProcess("all", env=env, log=log, args=serve_args)
    server.start().wait_ready(timeout=120)
    try:
        consumed_s = asyncio.run(wait_consumed(settings, last))
        world.timings["consumed_after_start_s"] = consumed_s
        if model:
            world.timings["index_filled_s"] = wait_for_index(server.url, shape.admitted)
        world.timings["world_total_s"] = time.monotonic() - started
        print(f"{name}: world built in {world.timings['world_total_s']:.1f} s", flush=True)
        load = measure_load(server, world, shape, scratch, name=name, profile=profile)
    finally:
        server.stop()
    return {"world": {"timings": world.timings, "events": world.events}, **load}


def report(results: dict[str, Any], shape: Shape) -> None:
    goals = {
        "embedded": {"hit_rps": 10_000, "hit_p99_ms": 10.0},
        "embedded-workers": {"hit_rps": 10_000, "hit_p99_ms": 10.0},
        "cluster": {"hit_rps": 4_000, "hit_p99_ms": 25.0},
    }
    print(
        "\n| backend | load | req/s | p50 ms | p99 ms | goal | met |\n|---|---|---|---|---|---|---|"
    )
    for name, result in results.items():
        m = result["medians"]
        goal = goals[name]
        hit_ok = m["hit"]["rps"] >= goal["hit_rps"] and m["hit"]["p99_ms"] <= goal["hit_p99_ms"]
        asm_ok = m["assembly"]["p99_ms"] <= 50.0
        rows = [
            ("/healthz (bare)", m["bare"], "", ""),
            (
                "cache hit",
                m["hit"],
                f"≥ {goal['hit_rps']:,} req/s, p99 ≤ {goal['hit_p99_ms']:g} ms",
                "yes" if hit_ok else "no",
            ),
            ("full assembly", m["assembly"], "p99 ≤ 50 ms", "yes" if asm_ok else "no"),
        ]
        for load, figures, text, met in rows:
            print(
                f"| {name} | {load} | {figures['rps']:,.0f} | {figures['p50_ms']:.1f} "
                f"| {figures['p99_ms']:.1f} | {text} | {met} |"
            )
        idle = result["assembly_idle_ms"]
        print(
            f"| {name} | full assembly, 1 connection (idle) | | {idle['p50']:.1f} "
            f"| {idle['p99']:.1f} | | |"
        )
    print(f"\nshape: {shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small world, short rounds")
    parser.add_argument(
        "--backends",
        default="embedded,embedded-workers,cluster",
        help="embedded: one process; embedded-workers: --workers API processes on the shared "
        "file cache; cluster: PostgreSQL, Redis and NATS",
    )
    parser.add_argument("--workers", type=int, default=2, help="API processes (embedded-workers)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server per load")
    parser.add_argument(
        "--no-model",
        action="store_true",
        help="no trained model: For You without its two-tower source (as runs before 2026-11-25)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `./run bench` installs it (apt-get install wrk)")
    shape = QUICK if args.quick else FULL
    backends = [name for name in args.backends.split(",") if name]
    Path("var").mkdir(exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(dir="var") as scratch:
        for name in backends:
            results[name] = run_backend(
                name,
                shape,
                Path(scratch),
                profile=args.profile,
                workers=args.workers,
                model=not args.no_model,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"shape": vars(shape), "args": vars(args), **results}, indent=2))
    report(results, shape)


if __name__ == "__main__":
    main()
