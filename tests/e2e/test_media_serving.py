"""`/media/...`: content types, ETags, Cache-Control by kind and byte ranges, on a video made
ready directly in the stores (transcoding has its own tests)."""

from __future__ import annotations

import os

import httpx
import pytest

from flick.bootstrap import Container
from flick.ingest.model import media_key

from .conftest import auth, ready_video, signup, user_id

SHA = "ab" * 32
SEGMENT = os.urandom(10_000)


@pytest.fixture
async def video_id(client: httpx.AsyncClient, services: Container) -> int:
    token = await signup(client, "ana")
    video = await ready_video(services, await user_id(client, token), sha256=SHA)
    files = {
        "master.m3u8": b"#EXTM3U\n",
        "720p/index.m3u8": b"#EXTM3U\n#EXT-X-ENDLIST\n",
        "720p/seg_00000.m4s": SEGMENT,
        "thumb.jpg": b"\xff\xd8\xff",
    }
    for path, data in files.items():
        await services.blobs.put(media_key(SHA, path), data)
    return video


async def test_content_types_and_cache_control_by_kind(
    client: httpx.AsyncClient, video_id: int
) -> None:
    expected = {
        "master.m3u8": ("application/vnd.apple.mpegurl", "public, max-age=10"),
        "720p/index.m3u8": ("application/vnd.apple.mpegurl", "public, max-age=300"),
        "720p/seg_00000.m4s": ("video/iso.segment", "public, max-age=31536000, immutable"),
        "thumb.jpg": ("image/jpeg", "public, max-age=31536000, immutable"),
    }
    for path, (content_type, cache_control) in expected.items():
        response = await client.get(f"/media/{video_id}/{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == cache_control
        assert response.headers["etag"].startswith('"')
        assert response.headers["accept-ranges"] == "bytes"


async def test_etag_revalidates_to_304(client: httpx.AsyncClient, video_id: int) -> None:
    url = f"/media/{video_id}/720p/seg_00000.m4s"
    etag = (await client.get(url)).headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    changed = await client.get(url, headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.content == SEGMENT


async def test_byte_ranges(client: httpx.AsyncClient, video_id: int) -> None:
    url = f"/media/{video_id}/720p/seg_00000.m4s"
    cases = {"bytes=0-99": (0, 100), "bytes=9990-": (9990, 10_000), "bytes=-10": (9990, 10_000)}
    for header, (start, end) in cases.items():
        response = await client.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == SEGMENT[start:end]
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/10000"
        assert response.headers["content-length"] == str(end - start)
    past = await client.get(url, headers={"Range": "bytes=20000-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == "bytes */10000"
    stale = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == SEGMENT  # changed: the whole file


async def test_head_and_refusals(client: httpx.AsyncClient, video_id: int) -> None:
    head = await client.head(f"/media/{video_id}/720p/seg_00000.m4s")
    assert head.status_code == 200 and head.headers["content-length"] == "10000"
    for path in (
        f"/media/{video_id}/720p/seg_99999.m4s",  # no such file
        f"/media/{video_id}/../../etc/passwd.jpg",  # no climbing out
        f"/media/{video_id}/original",  # only media kinds are served, never the upload
        "/media/123/master.m3u8",  # no such video
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    post = await client.post(f"/media/{video_id}/master.m3u8")
    assert post.status_code == 405


async def test_a_deleted_video_stops_serving(
    client: httpx.AsyncClient, services: Container, video_id: int
) -> None:
    token = (
        await client.post(
            "/api/v1/auth/login", json={"username": "ana", "password": "hunter2hunter2"}
        )
    ).json()["token"]
    assert (await client.get(f"/media/{video_id}/master.m3u8")).status_code == 200
    deleted = await client.delete(f"/api/v1/videos/{video_id}", headers=auth(token))
    assert deleted.status_code == 204
    assert (await client.get(f"/media/{video_id}/master.m3u8")).status_code == 404
    assert await services.blobs.list(f"assets/{SHA}/") == []  # no other video shared it
