"""An app on the embedded backends in a temporary directory, driven in process by httpx."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from flick.bootstrap import Container, bootstrap
from flick.gateway.app import build_app
from flick.ingest import repository as ingest_repo
from flick.ingest.model import Video, VideoStatus
from flick.migrations import upgrade_all
from flick.platform.ids import new_id, shard_of
from flick.platform.settings import Settings
from flick.platform.sql import DIRECTORY_SHARD

# Cheap argon2 in tests: the cost is a setting, the algorithm (argon2id) is the same.
FAST_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 1024}
# Sign-in limits have their own tests (test_rate_limits.py); elsewhere they would interfere.
GENEROUS_LIMITS = {"rate_auth_attempts": 1000.0, "burst_auth_attempts": 1000}


def embedded_settings(tmp_path, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    values = {"data_dir": tmp_path, **FAST_PASSWORDS, **GENEROUS_LIMITS, **overrides}
    return Settings(**values)


@pytest.fixture
async def services(tmp_path) -> AsyncIterator[Container]:  # type: ignore[no-untyped-def]
    container = await bootstrap(embedded_settings(tmp_path))
    await upgrade_all(container.db)
    yield container
    await container.close()


@pytest.fixture
async def client(services: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(services), client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as http:
        yield http


async def signup(client: httpx.AsyncClient, username: str, password: str = "hunter2hunter2") -> str:
    """Sign up and return the bearer token."""
    response = await client.post(
        "/api/v1/auth/signup", json={"username": username, "password": password}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_id(client: httpx.AsyncClient, token: str) -> int:
    return int((await client.get("/api/v1/me", headers=auth(token))).json()["id"])


async def ready_video(
    services: Container, owner_id: int, *, sha256: str = "ab" * 32, duration_s: float = 10.0
) -> int:
    """A video made ready directly in the stores, without transcoding (media tests put
    blobs under it themselves)."""
    video = Video(
        new_id(shard_of(owner_id)), owner_id, sha256, "", [], VideoStatus.READY, time.time()
    )
    async with services.db.transaction(DIRECTORY_SHARD) as conn:
        await ingest_repo.create_asset(conn, sha256, source_upload_id=1, now=time.time())
        media = {"duration_s": duration_s}
        await ingest_repo.update_asset(conn, sha256, status=VideoStatus.READY, media=media)
        await ingest_repo.add_ref(conn, sha256, video_id=video.id, owner_id=owner_id)
    async with services.db.transaction(shard_of(video.id)) as conn:
        await ingest_repo.insert_video(conn, video)
    return video.id


async def tus_upload(client: httpx.AsyncClient, token: str, data: bytes, *, chunk: int) -> str:
    """Upload `data` through tus in PATCHes of `chunk` bytes; returns the upload id."""
    tus = {"Tus-Resumable": "1.0.0", **auth(token)}
    created = await client.post("/api/v1/uploads", headers={**tus, "Upload-Length": str(len(data))})
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    for at in range(0, len(data), chunk):
        response = await client.patch(
            location,
            content=data[at : at + chunk],
            headers={
                **tus,
                "Upload-Offset": str(at),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert response.status_code == 204, response.text
    return str(location.rsplit("/", 1)[1])
