"""Roles as separate processes sharing only the backends: two API processes and an outbox
relay on two PostgreSQL shard databases, Redis and NATS JetStream (DESIGN.md section 9)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from flick.platform.bus import Event

from ..conftest import NATS_URL, REDIS_URL, require_service

FLICK = str(Path(sys.executable).parent / "flick")
AUTH_BURST = 6  # sign-in attempts per address, shared by both API processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def cluster_env(tmp_path, make_postgres_database) -> AsyncIterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    for service in ("postgresql", "redis", "nats"):
        require_service(service)
    first, second = await make_postgres_database(), await make_postgres_database()
    tag = f"t{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "FLICK_DATA_DIR": str(tmp_path),
        "FLICK_DB_SHARDS": f"0-511={first};512-1023={second}",
        "FLICK_CACHE_URL": REDIS_URL,
        "FLICK_CACHE_PREFIX": f"{tag}:",
        "FLICK_BUS_URL": NATS_URL,
        "FLICK_BUS_NAMESPACE": tag,
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_RATE_AUTH_ATTEMPTS": "0.001",
        "FLICK_BURST_AUTH_ATTEMPTS": str(AUTH_BURST),
        "FLICK_RELAY_POLL_S": "0.05",
    }
    migrate = [FLICK, "migrate"]
    await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True)
    yield env
    await _cleanup(env)


async def _cleanup(env: dict[str, str]) -> None:
    from flick.platform.bus.nats import NatsBus
    from flick.platform.cache.redis import RedisCache

    bus = await NatsBus.connect(NATS_URL, partitions=16, namespace=env["FLICK_BUS_NAMESPACE"])
    await bus.destroy()
    await bus.close()
    cache = RedisCache.from_url(REDIS_URL, prefix=env["FLICK_CACHE_PREFIX"])
    await cache.clear_prefix()
    await cache.close()


@pytest.fixture
def processes(cluster_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    ports = [_free_port(), _free_port()]
    commands = [[FLICK, "serve", "--role", "api", "--port", str(port)] for port in ports]
    commands.append([FLICK, "serve", "--role", "relay"])
    logs = [open(tmp_path / f"proc{i}.log", "wb") for i in range(3)]  # noqa: SIM115
    running = [
        subprocess.Popen(cmd, env=cluster_env, stdout=log, stderr=subprocess.STDOUT)
        for cmd, log in zip(commands, logs, strict=True)
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            _wait_ready(url, running, tmp_path)
        yield urls[0], urls[1]
    finally:
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def _wait_ready(url: str, running: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in running):
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    logs = "\n".join(
        p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("proc*.log"))
    )
    pytest.fail(f"{url} did not become ready:\n{logs}")


async def _events_for(env: dict[str, str], user_id: str, wanted: str) -> list[Event]:
    """Read the `user` topic from NATS until an event of type `wanted` for the user shows up."""
    from flick.platform.bus.nats import NatsBus

    bus = await NatsBus.connect(NATS_URL, partitions=16, namespace=env["FLICK_BUS_NAMESPACE"])
    seen: list[Event] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for partition in range(bus.partitions):
                batch = await bus.fetch("user", group="test", partition=partition, timeout=0.05)
                seen += [m.event for m in batch if m.event.payload.get("user_id") == user_id]
            if any(event.type == wanted for event in seen):
                return seen
    finally:
        await bus.close()
    pytest.fail(f"no {wanted} event on the bus; saw {[e.type for e in seen]}")


@pytest.mark.services
@pytest.mark.slow
async def test_a_change_through_one_api_process_is_read_at_once_through_the_other(
    processes: tuple[str, str], cluster_env: dict[str, str]
) -> None:
    api_a, api_b = processes
    async with httpx.AsyncClient(timeout=10) as http:
        signed_up = await http.post(
            f"{api_a}/api/v1/auth/signup", json={"username": "mira", "password": "a long password"}
        )
        assert signed_up.status_code == 201, signed_up.text
        token, user_id = signed_up.json()["token"], signed_up.json()["user"]["id"]
        headers = {"Authorization": f"Bearer {token}"}

        # Warm B's view first, so a stale cache would show.
        assert (await http.get(f"{api_b}/api/v1/users/mira")).json()["bio"] == ""
        patched = await http.patch(f"{api_a}/api/v1/me", json={"bio": "from A"}, headers=headers)
        assert patched.status_code == 200

        assert (await http.get(f"{api_b}/api/v1/users/mira")).json()["bio"] == "from A"
        assert (await http.get(f"{api_b}/api/v1/me", headers=headers)).json()["bio"] == "from A"

        # Revocation is immediate everywhere too.
        assert (await http.post(f"{api_b}/api/v1/auth/logout", headers=headers)).status_code == 204
        assert (await http.get(f"{api_a}/api/v1/me", headers=headers)).status_code == 401

    events = await _events_for(cluster_env, user_id, "accounts.profile_updated")
    types = [event.type for event in events]
    assert types.index("accounts.user_signed_up") < types.index("accounts.profile_updated")
    assert events[types.index("accounts.profile_updated")].payload["bio"] == "from A"


@pytest.mark.services
@pytest.mark.slow
async def test_the_rate_limit_is_shared_by_both_api_processes(processes: tuple[str, str]) -> None:
    api_a, api_b = processes
    codes = []
    async with httpx.AsyncClient(timeout=10) as http:
        for attempt in range(AUTH_BURST + 2):
            url = (api_a, api_b)[attempt % 2]
            login = {"username": "nobody_at_all", "password": "wrong password"}
            codes.append((await http.post(f"{url}/api/v1/auth/login", json=login)).status_code)
    assert codes == [401] * AUTH_BURST + [429, 429]
