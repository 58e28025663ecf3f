"""Likes end to end on the embedded backends: wrk POSTs likes of distinct (user, video) pairs
to `flick serve` (API, relay and worker in one process) under 64 connections; then the bench
waits until the aggregated counters add up to exactly the likes sent (the drain).

    .venv/bin/python -m bench.likes [--seconds 10] [--users 1000] [--videos 100] [--workers N]
                                    [--background-process] [--profile]

With `--workers N` (N > 1) or `--background-process` the server is API process(es) and one
background process (relay, counters, notifications) sharing the embedded files and the shared
file cache (lmdb://); without them, one process on the in-process cache.

Reports the HTTP rate (wrk), the end-to-end rate: likes / (time from the first request until
the counters are exact), and the time from sending a like to its notification on the
creator's WebSocket (p50, p99 of 200 likes sent one at a time), both while wrk's load runs
and afterwards on the idle server; first, the same server's /healthz rate under wrk (how fast
the host is in this run: compare runs by their ratio to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
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

from bench.common import percentiles_ms, server_env, start_profile
from flick.bootstrap import bootstrap
from flick.platform.settings import Settings
from flick.social import repository as social_repo

RESULTS = Path("var/bench/likes.json")
PROFILE = Path("var/bench/likes-profile.txt")
OWNERS = 10  # videos are spread over the first ten users
SOCKET_SAMPLES = 200  # likes timed to the socket, idle and under load each
LUA = """
tokens = {%s}
videos = {%s}
counter = 0
request = function()
  -- consecutive requests like different videos, as a crowd double-tapping through feeds does
  local video = counter %% #videos
  local user = math.floor(counter / #videos) %% #tokens
  counter = counter + 1
  return wrk.format("POST", "/api/v1/videos/" .. videos[video + 1] .. "/like",
    {["Authorization"] = "Bearer " .. tokens[user + 1]})
end
"""


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
    url: str,
    creator_token: str,
    likers: list[str],
    video: int,
    *,
    pause_s: float,
    until: float = float("inf"),
) -> list[float]:
    """Seconds from sending a like to its notification arriving on the creator's socket,
    one like at a time, each by another user (the video is fresh: every like is new), until
    the likers run out or the monotonic clock passes `until`."""
    ws_url = f"{url.replace('http', 'ws')}/api/v1/notifications/ws?token={creator_token}"
    latencies = []
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as socket:
        await asyncio.sleep(0.5)  # the subscription is live
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for token in likers:
                if time.monotonic() > until:
                    break
                sent = time.perf_counter()
                headers = {"Authorization": f"Bearer {token}"}
                response = await http.post(f"/api/v1/videos/{video}/like", headers=headers)
                response.raise_for_status()
                await asyncio.wait_for(socket.receive(), timeout=10)
                latencies.append(time.perf_counter() - sent)
                await asyncio.sleep(pause_s)
    return latencies


BARE_SECONDS = 3


def start_wrk(url: str, script: Path | None, seconds: int) -> subprocess.Popen[str]:
    command = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command += ["-s", str(script)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def wrk_result(wrk: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = wrk.communicate()
    if wrk.returncode or re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"wrk failed or saw error responses; the figures would lie:\n{out}")
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": re.search(r"50%\s+(\S+)", out).group(1),  # type: ignore[union-attr]
        "p99": re.search(r"99%\s+(\S+)", out).group(1),  # type: ignore[union-attr]
    }


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    data_dir = scratch / "data"
    # --workers N (N > 1) or --background-process: API process(es) and one background process
    # (relay + worker) on the shared file cache; else one process on the in-process cache.
    serve = ("--workers", str(args.workers)) + (("--background-process",) if args.split else ())
    server = FlickProcess("all", env=server_env(data_dir), log=scratch / "server.log", args=serve)
    server.start().wait_ready()
    try:
        # The host's speed in this run: the same server's /healthz under the same load shape.
        bare = wrk_result(start_wrk(f"{server.url}/healthz", None, BARE_SECONDS))
        users = sign_up(server.url, args.users)
        owners = [uid for _, uid in users[:OWNERS]]
        # Two more videos than wrk likes, fresh for the socket timings (idle, under load).
        videos = asyncio.run(make_videos(data_dir, owners, args.videos + 2))
        liked, idle_video, loaded_video = videos[:-2], videos[-2], videos[-1]
        creator = {v: users[n % OWNERS][0] for n, v in enumerate(videos)}
        likers = [token for token, _ in users[OWNERS : OWNERS + SOCKET_SAMPLES]]
        script = scratch / "likes.lua"
        tokens = ",".join(f'"{token}"' for token, _ in users)
        script.write_text(LUA % (tokens, ",".join(f'"{v}"' for v in liked)))
        started = time.monotonic()
        wrk = start_wrk(server.url, script, args.seconds)
        if args.profile:
            start_profile(server.proc.pid, PROFILE, max(1, args.seconds - 2))
        time.sleep(1)  # the load is up before the first timed like
        timing = socket_latencies(
            server.url,
            creator[loaded_video],
            likers,
            loaded_video,
            pause_s=0.02,
            until=started + args.seconds - 0.5,  # only likes answered while the load runs
        )
        loaded = asyncio.run(timing)
        http = wrk_result(wrk)
        if http["requests"] > args.users * args.videos:
            raise SystemExit("more requests than distinct pairs: raise --users/--videos")
        # wrk counts the responses it read; requests cut off at the end may still land,
        # so the likes table is the truth the counters must reach.
        stored, counted, exact = drain(data_dir, videos)
        drained = time.monotonic() - started
        idle = asyncio.run(
            socket_latencies(server.url, creator[idle_video], likers, idle_video, pause_s=0.02)
        )
    finally:
        server.stop()
    result = {
        "workers": args.workers,
        "background_process": args.split or args.workers > 1,
        **http,
        "bare_healthz_rps": bare["rps"],
        "likes_stored": stored,
        "likes_counted": counted,
        "drained_s": drained,
    }
    result["end_to_end_per_s"] = stored / drained
    result["counts_exact"] = exact
    result["socket_ms_under_load"] = percentiles_ms(loaded)
    result["socket_ms_idle"] = percentiles_ms(idle)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="API processes (flick serve)")
    parser.add_argument(
        "--background-process",
        dest="split",
        action="store_true",
        help="the relay and the worker in a process of their own (flick serve's flag)",
    )
    parser.add_argument("--profile", action="store_true", help=f"py-spy the server into {PROFILE}")
    args = parser.parse_args()
    Path("var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir="var") as scratch:
        result = measure(args, Path(scratch))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
