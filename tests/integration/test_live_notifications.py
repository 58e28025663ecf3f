"""A like through API process A reaches the video's creator on a WebSocket held by API process
B within a second: the relay publishes the like to the bus, the worker stores the notification
and publishes it on the cache, and B pushes it to the socket. On Redis + NATS, and on the
embedded backends with the shared file cache (its messages cross processes on Unix sockets)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import orjson
import pytest

from flick.bootstrap import bootstrap
from flick.platform.settings import Settings

from ..conftest import NATS_URL, REDIS_URL, require_service
from ..e2e.conftest import ready_video
from ..processes import FLICK, FlickProcess
from .test_roles import _cleanup

pytestmark = pytest.mark.slow


@pytest.fixture(params=["cluster", "embedded"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    values = {
        "FLICK_DATA_DIR": str(tmp_path / "data"),
        "FLICK_CACHE_URL": "lmdb://",
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_RELAY_POLL_S": "0.05",
    }
    cluster = request.param == "cluster"
    if cluster:
        for service in ("redis", "nats"):
            require_service(service)
        tag = f"t{uuid.uuid4().hex[:10]}"
        values["FLICK_CACHE_URL"] = REDIS_URL
        values["FLICK_CACHE_PREFIX"] = f"{tag}:"
        values["FLICK_BUS_URL"] = NATS_URL
        values["FLICK_BUS_NAMESPACE"] = tag
    await asyncio.to_thread(
        subprocess.run, [FLICK, "migrate"], env={**os.environ, **values}, check=True
    )
    yield values
    if cluster:
        await _cleanup(values)


async def test_a_like_through_a_reaches_the_creator_on_b(
    env: dict[str, str], tmp_path: Path
) -> None:
    roles = ("api", "api", "relay", "worker")
    processes = [
        FlickProcess(role, env=env, log=tmp_path / f"{role}{i}.log").start()
        for i, role in enumerate(roles)
    ]
    a, b = processes[0], processes[1]
    try:
        for api in (a, b):
            await asyncio.to_thread(api.wait_ready)
        async with httpx.AsyncClient() as http:
            ana = await sign_up(http, a.url, "ana")
            bob = await sign_up(http, a.url, "bob")
            video = await make_video(env, ana["user"]["id"])
            ws_url = f"{b.url.replace('http', 'ws')}/api/v1/notifications/ws?token={ana['token']}"
            async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as socket:
                await asyncio.sleep(0.3)  # B's subscription is live before the like
                liked_at = time.monotonic()
                response = await http.post(
                    f"{a.url}/api/v1/videos/{video}/like",
                    headers={"Authorization": f"Bearer {bob['token']}"},
                )
                assert response.status_code == 204
                message = await asyncio.wait_for(socket.receive(), timeout=10)
                latency = time.monotonic() - liked_at
            notification = orjson.loads(message.data)
            assert notification["text"] == "bob liked your video"
            assert notification["subject_id"] == str(video)
            assert latency < 1.0, f"took {latency:.2f} s"
            refused = await http.get(f"{b.url}/api/v1/notifications")
            assert refused.status_code == 401
    finally:
        for process in processes:
            process.stop()


async def sign_up(http: httpx.AsyncClient, url: str, username: str) -> dict[str, object]:
    body = {"username": username, "password": "hunter2hunter2"}
    response = await http.post(f"{url}/api/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_video(env: dict[str, str], owner: object) -> int:
    services = await bootstrap(
        Settings(**{k.removeprefix("FLICK_").lower(): v for k, v in env.items()})
    )
    try:
        return await ready_video(services, int(str(owner)))
    finally:
        await services.close()


async def test_a_socket_without_a_valid_token_is_closed(
    env: dict[str, str], tmp_path: Path
) -> None:
    api = FlickProcess("api", env=env, log=tmp_path / "api.log").start()
    try:
        await asyncio.to_thread(api.wait_ready)
        url = f"{api.url.replace('http', 'ws')}/api/v1/notifications/ws?token=forged.token"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with session.ws_connect(url):
                    pass
        assert refused.value.status == 403  # a close before accept is refused at the handshake
    finally:
        api.stop()
