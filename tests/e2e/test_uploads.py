"""The tus 1.0.0 endpoint in process: protocol details, refusals, checksums, expiry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from flick.bootstrap import Container, bootstrap
from flick.gateway.app import build_app
from flick.migrations import upgrade_all

from .conftest import auth, embedded_settings, signup, user_id

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}
MAX_BYTES = 1 << 20


@pytest.fixture
async def services(tmp_path) -> AsyncIterator[Container]:  # type: ignore[no-untyped-def]
    settings = embedded_settings(tmp_path, upload_max_bytes=MAX_BYTES, upload_part_bytes=1 << 16)
    container = await bootstrap(settings)
    await upgrade_all(container.db)
    yield container
    await container.close()


async def create(client: httpx.AsyncClient, token: str, length: int, **headers: str) -> str:
    response = await client.post(
        "/api/v1/uploads", headers={**TUS, **auth(token), "Upload-Length": str(length), **headers}
    )
    assert response.status_code == 201, response.text
    return str(response.headers["location"])


async def offset(client: httpx.AsyncClient, token: str, location: str) -> int:
    response = await client.head(location, headers={**TUS, **auth(token)})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return int(response.headers["upload-offset"])


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


async def test_options_advertises_the_protocol(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/uploads")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = set(response.headers["tus-extension"].split(","))
    assert {"creation", "creation-with-upload", "checksum", "termination", "expiration"} <= (
        extensions
    )
    assert response.headers["tus-max-size"] == str(MAX_BYTES)
    assert set(response.headers["tus-checksum-algorithm"].split(",")) == {"sha1", "sha256"}


async def test_chunks_in_any_size_then_the_whole_file_hash(
    client: httpx.AsyncClient, services: Container
) -> None:
    token = await signup(client, "ana")
    data = os.urandom(300_000)
    location = await create(client, token, len(data), **{"Upload-Metadata": "filename YS5tcDQ="})
    at = 0
    for size in (1, 70_000, 150_000, 79_999):  # odd sizes, one spanning several stored parts
        response = await client.patch(
            location,
            content=data[at : at + size],
            headers={**CHUNK, **auth(token), "Upload-Offset": str(at)},
        )
        assert response.status_code == 204, response.text
        at += size
        assert int(response.headers["upload-offset"]) == at
        assert "upload-expires" in response.headers
    upload = await services.uploads.get(
        int(location.rsplit("/", 1)[1]), user_id=await user_id(client, token)
    )
    assert upload.complete and upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.metadata == {"filename": "a.mp4"}
    stored = b"".join([chunk async for chunk in services.uploads.read(upload.id)])
    assert stored == data


async def test_creation_with_upload_and_sha256_checksum(client: httpx.AsyncClient) -> None:
    token = await signup(client, "ana")
    data = os.urandom(5000)
    digest = base64.b64encode(hashlib.sha256(data[:2000]).digest()).decode()
    location = await client.post(
        "/api/v1/uploads",
        content=data[:2000],
        headers={
            **CHUNK,
            **auth(token),
            "Upload-Length": str(len(data)),
            "Upload-Checksum": f"sha256 {digest}",
        },
    )
    assert location.status_code == 201, location.text
    assert location.headers["upload-offset"] == "2000"
    assert await offset(client, token, location.headers["location"]) == 2000


async def test_checksum_mismatch_is_460_and_keeps_the_offset(
    client: httpx.AsyncClient, services: Container
) -> None:
    token = await signup(client, "ana")
    data = os.urandom(200_000)
    location = await create(client, token, len(data))
    first = await client.patch(
        location,
        content=data[:100_000],
        headers={
            **CHUNK,
            **auth(token),
            "Upload-Offset": "0",
            "Upload-Checksum": sha1_header(data[:100_000]),
        },
    )
    assert first.status_code == 204
    corrupted = b"X" + data[100_001:]
    mismatch = await client.patch(
        location,
        content=corrupted,
        headers={
            **CHUNK,
            **auth(token),
            "Upload-Offset": "100000",
            "Upload-Checksum": sha1_header(data[100_000:]),
        },
    )
    assert mismatch.status_code == 460
    assert mismatch.headers["content-type"] == "application/problem+json"
    assert "resend from byte 100000" in mismatch.json()["detail"]
    assert await offset(client, token, location) == 100_000
    upload_id = int(location.rsplit("/", 1)[1])
    parts = await services.blobs.list(f"uploads/{upload_id}/")
    sizes = [info.size for info in [await services.blobs.stat(key) for key in parts] if info]
    assert sum(sizes) == 100_000  # nothing of the refused chunk is stored
    good = await client.patch(
        location,
        content=data[100_000:],
        headers={
            **CHUNK,
            **auth(token),
            "Upload-Offset": "100000",
            "Upload-Checksum": sha1_header(data[100_000:]),
        },
    )
    assert good.status_code == 204
    upload = await services.uploads.get(upload_id, user_id=await user_id(client, token))
    assert upload.sha256 == hashlib.sha256(data).hexdigest()  # the bad bytes left no trace


async def test_refusals_are_problems_with_the_tus_status(client: httpx.AsyncClient) -> None:
    token = await signup(client, "ana")
    headers = {**TUS, **auth(token)}
    too_big = await client.post(
        "/api/v1/uploads", headers={**headers, "Upload-Length": str(MAX_BYTES + 1)}
    )
    assert too_big.status_code == 413
    assert "largest upload is 1.0 MiB" in too_big.json()["detail"]
    empty = await client.post("/api/v1/uploads", headers={**headers, "Upload-Length": "0"})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    no_version = await client.post("/api/v1/uploads", headers={**auth(token), "Upload-Length": "5"})
    assert no_version.status_code == 412
    bad_length = await client.post("/api/v1/uploads", headers={**headers, "Upload-Length": "-1"})
    assert bad_length.status_code == 400
    anonymous = await client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "5"})
    assert anonymous.status_code == 401
    bad_metadata = await client.post(
        "/api/v1/uploads",
        headers={**headers, "Upload-Length": "5", "Upload-Metadata": "caption !!"},
    )
    assert bad_metadata.status_code == 400

    location = await create(client, token, 10)
    wrong_type = await client.patch(
        location, content=b"12345", headers={**headers, "Upload-Offset": "0"}
    )
    assert wrong_type.status_code == 415
    wrong_offset = await client.patch(
        location, content=b"12345", headers={**CHUNK, **auth(token), "Upload-Offset": "3"}
    )
    assert wrong_offset.status_code == 409
    past_the_end = await client.patch(
        location, content=b"x" * 11, headers={**CHUNK, **auth(token), "Upload-Offset": "0"}
    )
    assert past_the_end.status_code == 413
    unknown_algorithm = await client.patch(
        location,
        content=b"12345",
        headers={**CHUNK, **auth(token), "Upload-Offset": "0", "Upload-Checksum": "md5 AAAA"},
    )
    assert unknown_algorithm.status_code == 400
    assert await offset(client, token, location) == 0  # nothing refused was kept


async def test_someone_elses_upload_is_not_found(client: httpx.AsyncClient) -> None:
    owner, other = await signup(client, "ana"), await signup(client, "bob")
    location = await create(client, owner, 10)
    for method in ("HEAD", "PATCH", "DELETE"):
        response = await client.request(
            method,
            location,
            content=b"x" if method == "PATCH" else None,
            headers={**CHUNK, **auth(other), "Upload-Offset": "0"},
        )
        assert response.status_code == 404, method
    assert await offset(client, owner, location) == 0


async def test_termination_deletes_the_bytes(
    client: httpx.AsyncClient, services: Container
) -> None:
    token = await signup(client, "ana")
    location = await create(client, token, 10)
    await client.patch(
        location, content=b"12345", headers={**CHUNK, **auth(token), "Upload-Offset": "0"}
    )
    upload_id = int(location.rsplit("/", 1)[1])
    assert await services.blobs.list(f"uploads/{upload_id}/")
    # tus-js-client's overridePatchMethod sends POST + X-HTTP-Method-Override
    gone = await client.post(
        location, headers={**TUS, **auth(token), "X-HTTP-Method-Override": "DELETE"}
    )
    assert gone.status_code == 204
    assert await services.blobs.list(f"uploads/{upload_id}/") == []
    assert (await client.head(location, headers={**TUS, **auth(token)})).status_code == 404


async def test_an_expired_upload_is_gone_with_its_bytes(
    client: httpx.AsyncClient, services: Container
) -> None:
    token = await signup(client, "ana")
    first, second = await create(client, token, 10), await create(client, token, 10)
    for location in (first, second):
        response = await client.patch(
            location, content=b"12345", headers={**CHUNK, **auth(token), "Upload-Offset": "0"}
        )
        assert response.status_code == 204
    expires = services.settings.upload_expiry_s
    assert await services.uploads.sweep_expired(now=time.time() + expires / 2) == 0
    assert await services.uploads.sweep_expired(now=time.time() + expires + 1) == 2
    for location in (first, second):
        upload_id = int(location.rsplit("/", 1)[1])
        assert await services.blobs.list(f"uploads/{upload_id}/") == []
        response = await client.head(location, headers={**TUS, **auth(token)})
        assert response.status_code == 404


async def test_an_upload_past_its_expiry_answers_410(tmp_path) -> None:  # type: ignore[no-untyped-def]
    container = await bootstrap(embedded_settings(tmp_path, upload_expiry_s=1))
    await upgrade_all(container.db)
    transport = httpx.ASGITransport(app=build_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as client:
            token = await signup(client, "ana")
            location = await create(client, token, 10)
            await asyncio.sleep(1.1)
            response = await client.patch(
                location, content=b"12345", headers={**CHUNK, **auth(token), "Upload-Offset": "0"}
            )
            assert response.status_code == 410
            assert "expired and was deleted" in response.json()["detail"]
            again = await client.head(location, headers={**TUS, **auth(token)})
            assert again.status_code == 404  # deleted on the way
    finally:
        await container.close()
