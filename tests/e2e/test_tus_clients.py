"""A real tus client (tuspy) against a real `flick serve`: interrupted uploads resume, also
after the server is killed and started again, and checksums are checked."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed
from tusclient.request import TusRequest

from flick.media.clips import make_clip

from ..processes import FlickProcess

CHUNK = 64 * 1024  # small chunks keep the test quick; the protocol does not care


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    return {
        "FLICK_DATA_DIR": str(tmp_path / "data"),
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
    }


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[FlickProcess]:
    process = FlickProcess("api", env=server_env, log=tmp_path / "server.log").start()
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def sign_up(url: str, username: str = "ana") -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auth/signup", json={"username": username, "password": "hunter2hunter2"}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def video_file(tmp_path: Path, size: int = 700_000) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(size))
    return path


def stored_sha256(server_env: dict[str, str], upload_url: str) -> str | None:
    upload_id = int(upload_url.rsplit("/", 1)[1])
    db = Path(server_env["FLICK_DATA_DIR"]) / "flick.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT sha256 FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    return row[0] if row else None


def test_an_interrupted_upload_resumes_where_it_stopped(
    server: FlickProcess, server_env: dict[str, str], tmp_path: Path
) -> None:
    headers = sign_up(server.url)
    path = video_file(tmp_path)
    client = tus_client.TusClient(f"{server.url}/api/v1/uploads", headers=headers)
    first = client.uploader(str(path), chunk_size=CHUNK, metadata={"caption": "hi #tus"})
    first.upload(stop_at=300_000)  # the connection "drops" here
    assert first.url is not None

    resumed = client.uploader(str(path), chunk_size=CHUNK, url=first.url, upload_checksum=True)
    assert resumed.offset == first.offset >= 300_000  # asked the server with HEAD
    resumed.upload()
    assert resumed.offset == path.stat().st_size
    assert stored_sha256(server_env, first.url) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_upload_survives_a_server_crash(server_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    before = FlickProcess("api", env=server_env, log=log).start().wait_ready()
    try:
        headers = sign_up(before.url)
        path = video_file(tmp_path)
        client = tus_client.TusClient(f"{before.url}/api/v1/uploads", headers=headers)
        uploader = client.uploader(str(path), chunk_size=CHUNK)
        uploader.upload(stop_at=400_000)
        url = uploader.url
    finally:
        before.kill()  # SIGKILL: no shutdown hooks, the running hash is lost with the process

    after = FlickProcess("api", env=server_env, log=log, port=before.port).start().wait_ready()
    try:
        client = tus_client.TusClient(f"{after.url}/api/v1/uploads", headers=headers)
        resumed = client.uploader(str(path), chunk_size=CHUNK, url=url)
        assert resumed.offset >= 400_000
        resumed.upload()
        assert resumed.offset == path.stat().st_size
    finally:
        after.stop()
    assert stored_sha256(server_env, url) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "rebuilding the SHA-256" in after.log()  # from the stored parts, once


def test_a_corrupted_chunk_is_refused_and_the_offset_kept(
    server: FlickProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = sign_up(server.url)
    path = video_file(tmp_path, size=200_000)
    client = tus_client.TusClient(f"{server.url}/api/v1/uploads", headers=headers)
    uploader = client.uploader(str(path), chunk_size=CHUNK, upload_checksum=True)
    uploader.upload_chunk()
    assert uploader.offset == CHUNK

    # A byte flips in transit: the client's checksum is of the bytes it meant to send.
    meant = TusRequest.add_checksum

    def checksum_of_other_bytes(self: TusRequest, chunk: bytes) -> None:
        meant(self, bytes([chunk[0] ^ 0xFF]) + chunk[1:])

    monkeypatch.setattr(TusRequest, "add_checksum", checksum_of_other_bytes)
    with pytest.raises(TusUploadFailed) as refused:
        uploader.upload_chunk()
    assert refused.value.status_code == 460
    head = httpx.head(uploader.url, headers={**headers, "Tus-Resumable": "1.0.0"})
    assert head.headers["upload-offset"] == str(CHUNK)

    monkeypatch.setattr(TusRequest, "add_checksum", meant)
    uploader.upload()  # the same chunk again, intact this time
    assert uploader.offset == path.stat().st_size


def test_the_all_in_one_server_takes_a_video_from_tus_to_hls(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "clip.mp4"
    asyncio.run(make_clip(source, seconds=2, width=240, height=426, fps=15))
    env = {**server_env, "FLICK_TRANSCODE_HEVC": "false", "FLICK_RELAY_POLL_S": "0.05"}
    server = FlickProcess("all", env=env, log=tmp_path / "all.log").start().wait_ready()
    try:
        headers = sign_up(server.url)
        client = tus_client.TusClient(f"{server.url}/api/v1/uploads", headers=headers)
        uploader = client.uploader(str(source), chunk_size=CHUNK, metadata={"caption": "#tus"})
        uploader.upload()
        upload_id = uploader.url.rsplit("/", 1)[1]
        published = httpx.post(
            f"{server.url}/api/v1/videos", json={"upload_id": upload_id}, headers=headers
        )
        assert published.status_code == 202, published.text
        assert published.json()["hashtags"] == ["tus"]  # the caption came from the metadata
        video = wait_until_settled(server.url, published.json()["id"])
        assert video["status"] == "ready", f"{video['error']}\n{server.log()}"
        master = httpx.get(f"{server.url}{video['manifest_url']}")
        assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
    finally:
        server.stop()


def wait_until_settled(url: str, video_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = httpx.get(f"{url}/api/v1/videos/{video_id}").json()
        if video["status"] != "processing":
            return dict(video)
        time.sleep(0.1)
    pytest.fail(f"video {video_id} was still processing after {timeout} s")
