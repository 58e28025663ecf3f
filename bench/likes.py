"""Likes end to end on the embedded backends: wrk POSTs likes of distinct (user, video) pairs
to `flick serve` (API, relay and worker in one process) under 64 connections; then the bench
waits until the aggregated counters add up to exactly the likes sent (the drain).

    .venv/bin/python -m bench.likes [--seconds 10] [--users 400] [--videos 100]

Reports the HTTP rate (wrk), the end-to-end rate: likes / (time from the first request until
the counters are exact), and then, one like at a time, the time from sending a like to its
notification on the creator's WebSocket (p50, p99 of 200).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import func, select
from tests.e2e.conftest import ready_video
from tests.processes import FlickProcess

from flick.bootstrap import bootstrap
from flick.platform.settings import Settings
from flick.social import repository as social_repo

RESULTS = Path("var/bench/likes.json")
LIFTED = "1000000"  # rate limits are not under test here
LUA = """
tokens = {%s}
videos = {%s}
counter = 0
request = function()
  local user = counter %% #tokens
  local video = math.floor(counter / #tokens) %% #videos
  counter = counter + 1
  return wrk.format("POST", "/api/v1/videos/" .. videos[video + 1] .. "/like",
    {["Authorization"] = "Bearer " .. tokens[user + 1]})
end
"""


def env_for(data_dir: Path) -> dict[str, str]:
    limits = ("RATE_PER_ADDRESS", "BURST_PER_ADDRESS", "RATE_PER_USER", "BURST_PER_USER")
    return {
        "FLICK_DATA_DIR": str(data_dir),
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_RATE_AUTH_ATTEMPTS": LIFTED,
        "FLICK_BURST_AUTH_ATTEMPTS": LIFTED,
        "FLICK_LOG_LEVEL": "WARNING",
        **{f"FLICK_{name}": LIFTED for name in limits},
    }


def sign_up(url: str, count: int) -> list[tuple[str, int]]:
    users = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for number in range(count):
            body = {"username": f"fan{number}", "password": "bench password"}
            answer = http.post("/api/v1/auth/signup", json=body).json()
            users.append((answer["token"], int(answer["user"]["id"])))
    return users


async def make_videos(data_dir: Path, owners: list[int], count: int) -> list[int]:
    services = await bootstrap(Settings(data_dir=data_dir))
    try:
        return [
            await ready_video(services, owners[n % len(owners)], sha256=f"{n:064x}")
            for n in range(count)
        ]
    finally:
        await services.close()


async def likes_stored_and_counted(data_dir: Path, videos: list[int]) -> tuple[int, int]:
    """(like rows in the likes table, the sum of the videos' like counters)."""
    services = await bootstrap(Settings(data_dir=data_dir))
    try:
        async with services.db.read(0) as conn:
            stored = await conn.execute(select(func.count()).select_from(social_repo.likes))
            found = await social_repo.get_counters(conn, videos)
    finally:
        await services.close()
    return int(stored.scalar_one()), sum(counts.get("likes", 0) for counts in found.values())


def drain(data_dir: Path, videos: list[int], *, timeout_s: float = 120) -> tuple[int, int, bool]:
    """Wait until the counters equal the stored likes and stay so for a second; exact unless
    they ever overshoot or never get there."""
    deadline, previous = time.monotonic() + timeout_s, (-1, -1)
    while time.monotonic() < deadline:
        stored, counted = asyncio.run(likes_stored_and_counted(data_dir, videos))
        if counted > stored:
            return stored, counted, False
        if counted == stored and (stored, counted) == previous:
            return stored, counted, True
        previous = (stored, counted)
        time.sleep(0.5 if counted == stored else 0.1)
    return stored, counted, False


async def socket_latencies(
    url: str, users: list[tuple[str, int]], video: int, *, samples: int
) -> list[float]:
    """Seconds from sending a like to its notification arriving on the creator's socket
    (users[0] owns `video`), one like at a time, each by another user."""
    creator_token = users[0][0]
    ws_url = f"{url.replace('http', 'ws')}/api/v1/notifications/ws?token={creator_token}"
    latencies = []
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as socket:
        await asyncio.sleep(0.5)  # the subscription is live
        async with httpx.AsyncClient(base_url=url) as http:
            for token, _ in users[1 : samples + 1]:
                sent = time.perf_counter()
                headers = {"Authorization": f"Bearer {token}"}
                response = await http.post(f"/api/v1/videos/{video}/like", headers=headers)
                response.raise_for_status()
                await asyncio.wait_for(socket.receive(), timeout=10)
                latencies.append(time.perf_counter() - sent)
                await asyncio.sleep(0.02)
    return latencies


def run_wrk(url: str, script: Path, seconds: int) -> dict[str, Any]:
    command = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"wrk saw error responses; the figures would lie:\n{out}")
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p99": re.search(r"99%\s+(\S+)", out).group(1),  # type: ignore[union-attr]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--videos", type=int, default=100)
    args = parser.parse_args()
    Path("var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir="var") as scratch:
        data_dir = Path(scratch) / "data"
        server = FlickProcess("all", env=env_for(data_dir), log=Path(scratch) / "server.log")
        server.start().wait_ready()
        try:
            users = sign_up(server.url, args.users)
            videos = asyncio.run(make_videos(data_dir, [uid for _, uid in users[:10]], args.videos))
            script = Path(scratch) / "likes.lua"
            tokens = ",".join(f'"{token}"' for token, _ in users)
            script.write_text(LUA % (tokens, ",".join(f'"{v}"' for v in videos)))
            started = time.monotonic()
            http = run_wrk(server.url, script, args.seconds)
            if http["requests"] > args.users * args.videos:
                raise SystemExit("more requests than distinct pairs: raise --users/--videos")
            # wrk counts the responses it read; requests cut off at the end may still land,
            # so the likes table is the truth the counters must reach.
            stored, counted, exact = drain(data_dir, videos)
            drained = time.monotonic() - started
            # videos[90] belongs to users[0] (owners rotate over the first 10) and wrk's
            # pairs never reached it: every like below is new.
            samples = asyncio.run(socket_latencies(server.url, users, videos[90], samples=200))
        finally:
            server.stop()
    result = {**http, "likes_stored": stored, "likes_counted": counted, "drained_s": drained}
    result["end_to_end_per_s"] = stored / drained
    result["counts_exact"] = exact
    ordered = sorted(samples)
    result["socket_ms"] = {
        "samples": len(ordered),
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
