"""`flick serve --workers 2` on the embedded backends: two API processes and one background
process (relay + worker) on one data directory, agreeing through the shared file cache."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp
import httpx
import orjson
import pytest

from ..processes import FlickProcess
from .test_live_notifications import make_video, sign_up

pytestmark = pytest.mark.slow

LIKERS = 12


async def test_two_api_processes_agree_on_sessions_counts_and_notifications(
    tmp_path: Path,
) -> None:
    env = {
        "FLICK_DATA_DIR": str(tmp_path / "data"),
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_BURST_AUTH_ATTEMPTS": "100",  # the sign-ups below come from one address
    }
    server = FlickProcess("all", env=env, log=tmp_path / "serve.log", args=("--workers", "2"))
    server.start()
    try:
        await asyncio.to_thread(server.wait_ready)
        assert "using the shared file cache (lmdb://)" in server.log()
        # The server's session: Granian's process, its two workers and the background one.
        assert len(_processes_of(server)) >= 4, server.log()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            ana = await sign_up(http, server.url, "ana")
            fans = [await sign_up(http, server.url, f"fan{n}") for n in range(LIKERS)]
            video = await make_video({**env, "FLICK_CACHE_URL": "lmdb://"}, ana["user"]["id"])
            ws_url = f"{server.url.replace('http', 'ws')}/api/v1/notifications/ws"
            async with aiohttp.ClientSession() as session:
                # Several sockets: the connections land on either worker.
                sockets = [
                    await session.ws_connect(f"{ws_url}?token={ana['token']}") for _ in range(4)
                ]
                await asyncio.sleep(0.3)
                # Fresh connections per like, so the likes spread over both workers; a session
                # made by one worker is honoured by the other.
                for fan in fans:
                    async with httpx.AsyncClient(base_url=server.url) as one_off:
                        liked = await one_off.post(
                            f"/api/v1/videos/{video}/like",
                            headers={"Authorization": f"Bearer {fan['token']}"},
                        )
                        assert liked.status_code == 204, liked.text
                for socket in sockets:  # every connection hears it, whichever worker holds it
                    message = await asyncio.wait_for(socket.receive(), timeout=10)
                    assert "liked your video" in orjson.loads(message.data)["text"]
                    await socket.close()
            assert await _likes_shown(http, video) == LIKERS
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode is not None
    assert _processes_of(server) == [], "the background process outlived the server"


async def _likes_shown(http: httpx.AsyncClient, video: int) -> int:
    """The video's like count as the API shows it, once the background process has
    aggregated every like (within a few seconds)."""
    deadline = time.monotonic() + 15
    shown = -1
    while time.monotonic() < deadline:
        shown = (await http.get(f"/api/v1/videos/{video}")).json()["counts"]["likes"]
        if shown == LIKERS:
            break
        await asyncio.sleep(0.2)
    return int(shown)


def _processes_of(server: FlickProcess) -> list[str]:
    assert server.proc is not None
    listing = subprocess.run(
        ["ps", "-o", "pid=", "--sid", str(server.proc.pid)], capture_output=True, text=True
    )
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]
