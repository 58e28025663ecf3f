"""Publishing videos end to end in process: tus upload -> POST /videos -> outbox -> bus ->
transcode worker (real ffmpeg) -> ready, dedup, hostile files, deletion and ownership."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flick.bootstrap import Container, bootstrap, transcode_worker
from flick.gateway.app import build_app
from flick.ingest.consumers import TranscodeWorker, run_transcoder
from flick.media.clips import make_clip
from flick.migrations import upgrade_all

from .conftest import auth, embedded_settings, signup, tus_upload

pytestmark = pytest.mark.slow
TUS = {"Tus-Resumable": "1.0.0"}


class World:
    """An app with its relay and transcode worker running, and an HTTP client."""

    def __init__(self, services: Container, client: httpx.AsyncClient, worker: TranscodeWorker):
        self.services, self.client, self.worker = services, client, worker

    async def upload(self, token: str, data: bytes) -> str:
        return await tus_upload(self.client, token, data, chunk=1 << 20)

    async def publish(self, token: str, data: bytes, caption: str = "") -> dict[str, Any]:
        upload_id = await self.upload(token, data)
        response = await self.client.post(
            "/api/v1/videos", json={"upload_id": upload_id, "caption": caption}, headers=auth(token)
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    async def settled(self, video_id: str, timeout: float = 120) -> dict[str, Any]:
        """The video once it is no longer processing."""
        async with asyncio.timeout(timeout):
            while True:
                video = (await self.client.get(f"/api/v1/videos/{video_id}")).json()
                if video["status"] != "processing":
                    return dict(video)
                await asyncio.sleep(0.1)

    async def hevc_done(self, video_id: str, timeout: float = 120) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                video = (await self.client.get(f"/api/v1/videos/{video_id}")).json()
                if any(r["codec"] == "hevc" for r in video["renditions"]):
                    return dict(video)
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running_world(data_dir: Path, **overrides: Any) -> AsyncIterator[World]:
    settings = embedded_settings(data_dir, relay_poll_s=0.05, **overrides)
    services = await bootstrap(settings)
    await upgrade_all(services.db)
    worker = transcode_worker(services)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(run_transcoder(worker, services.bus, stop)),
    ]
    transport = httpx.ASGITransport(app=build_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as client:
            yield World(services, client, worker)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await services.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path / "data", transcode_hevc=False) as running:
        yield running


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clips") / "portrait.mp4"
    asyncio.run(make_clip(path, seconds=3, width=360, height=640, fps=15))
    return path.read_bytes()


async def test_a_video_goes_from_upload_to_ready_hls(world: World, clip: bytes) -> None:
    token = await signup(world.client, "ana")
    accepted = await world.publish(token, clip, caption="First clip #Hello #東京")
    assert accepted["status"] == "processing"
    assert accepted["hashtags"] == ["hello", "東京"]
    assert accepted["creator"]["username"] == "ana"

    video = await world.settled(accepted["id"])
    assert video["status"] == "ready", video["error"]
    assert video["progress"] == 100.0
    assert (video["width"], video["height"]) == (360, 640)
    assert video["duration_s"] == pytest.approx(3, abs=0.5)
    assert [r["name"] for r in video["renditions"]] == ["360p"]  # never upscaled
    master = await world.client.get(video["manifest_url"])
    assert master.status_code == 200
    assert 'CODECS="avc1.' in master.text and "RESOLUTION=360x640" in master.text
    assert "BANDWIDTH=" in master.text
    rendition = await world.client.get(f"/media/{accepted['id']}/360p/index.m3u8")
    segment_name = next(line for line in rendition.text.splitlines() if line.endswith(".m4s"))
    segment = await world.client.get(f"/media/{accepted['id']}/360p/{segment_name}")
    assert segment.status_code == 200 and len(segment.content) > 1000
    thumb = await world.client.get(video["thumbnail_url"])
    assert thumb.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert world.worker.transcodes == 1
    # video.ready carries what the recommender embeds: keyframe stills and loudness
    ready = await world.services.videos.get(int(accepted["id"]))
    asset = await world.services.videos.asset(ready.asset)
    assert asset is not None and -60 < asset.media["loudness_db"] < 0  # the clip's tone
    from flick.ingest.service import _event_for

    event = _event_for(ready, asset).to_event()
    assert event.payload["keyframes"] and event.payload["loudness_db"] == asset.media["loudness_db"]
    [first, *_] = event.payload["keyframes"]
    assert (await world.services.blobs.get(first))[:3] == b"\xff\xd8\xff"


async def test_identical_content_is_ready_at_once_without_a_transcode(
    world: World, clip: bytes
) -> None:
    ana, bob = await signup(world.client, "ana"), await signup(world.client, "bob")
    first = await world.settled((await world.publish(ana, clip, "mine"))["id"])
    assert first["status"] == "ready"
    assert world.worker.transcodes == 1

    second = await world.publish(bob, clip, "also mine #copy")
    assert second["status"] == "ready"  # in the POST's own answer
    assert second["renditions"] == first["renditions"]
    assert second["caption"] == "also mine #copy" and second["creator"]["username"] == "bob"
    await asyncio.sleep(0.5)  # let the bus deliver `video.uploaded`/`video.ready` events
    assert world.worker.transcodes == 1
    sha = hashlib.sha256(clip).hexdigest()
    blobs = world.services.blobs
    assert await blobs.list("uploads/") == []  # neither upload's bytes are kept twice

    gone = await world.client.delete(f"/api/v1/videos/{first['id']}", headers=auth(ana))
    assert gone.status_code == 204
    assert (await world.client.get(second["manifest_url"])).status_code == 200  # still shared
    assert await blobs.list(f"assets/{sha}/")
    await world.client.delete(f"/api/v1/videos/{second['id']}", headers=auth(bob))
    assert await blobs.list(f"assets/{sha}/") == []  # the last one took the media with it


async def test_only_the_creator_deletes(world: World, clip: bytes) -> None:
    ana, bob = await signup(world.client, "ana"), await signup(world.client, "bob")
    video = await world.publish(ana, clip)
    refused = await world.client.delete(f"/api/v1/videos/{video['id']}", headers=auth(bob))
    assert refused.status_code == 403
    assert (await world.client.get(f"/api/v1/videos/{video['id']}")).status_code == 200
    anonymous = await world.client.delete(f"/api/v1/videos/{video['id']}")
    assert anonymous.status_code == 401
    await world.settled(video["id"])
    assert (
        await world.client.delete(f"/api/v1/videos/{video['id']}", headers=auth(ana))
    ).status_code == 204
    assert (await world.client.get(f"/api/v1/videos/{video['id']}")).status_code == 404


async def test_publishing_needs_a_whole_upload_of_ones_own(world: World) -> None:
    ana, bob = await signup(world.client, "ana"), await signup(world.client, "bob")
    created = await world.client.post(
        "/api/v1/uploads", headers={**TUS, **auth(ana), "Upload-Length": "100"}
    )
    upload_id = created.headers["location"].rsplit("/", 1)[1]
    half = await world.client.post(
        "/api/v1/videos", json={"upload_id": upload_id}, headers=auth(ana)
    )
    assert half.status_code == 409 and "0 of 100 bytes" in half.json()["detail"]
    theirs = await world.client.post(
        "/api/v1/videos", json={"upload_id": upload_id}, headers=auth(bob)
    )
    assert theirs.status_code == 404
    junk = await world.client.post("/api/v1/videos", json={"upload_id": 5}, headers=auth(ana))
    assert junk.status_code == 422


async def test_publishing_twice_is_refused(world: World, clip: bytes) -> None:
    ana = await signup(world.client, "ana")
    upload_id = await world.upload(ana, clip)
    body = {"upload_id": upload_id, "caption": "once"}
    first = await world.client.post("/api/v1/videos", json=body, headers=auth(ana))
    assert first.status_code == 202
    again = await world.client.post("/api/v1/videos", json=body, headers=auth(ana))
    assert again.status_code == 409


def _truncated(clip: bytes) -> bytes:
    return clip[: len(clip) // 2]  # moov atom (at the end) cut off


HOSTILE = {
    "text named .mp4": (lambda clip: b"just some notes, not a video\n" * 50, "not a video"),
    "truncated mp4": (_truncated, ""),
    "hls playlist pointing at a local file": (
        lambda clip: (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        ),
        "",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_files_fail_cleanly(world: World, clip: bytes, name: str) -> None:
    make, expected_reason = HOSTILE[name]
    token = await signup(world.client, "ana")
    data = make(clip)
    accepted = await world.publish(token, data)
    video = await world.settled(accepted["id"])
    assert video["status"] == "failed"
    assert video["error"] and expected_reason in video["error"]
    assert video["manifest_url"] is None and video["renditions"] == []
    blobs = world.services.blobs
    sha = hashlib.sha256(data).hexdigest()
    assert await blobs.list("uploads/") == []  # the upload's bytes are removed
    assert await blobs.list(f"assets/{sha}/") == []  # and nothing was made from them
    assert not list((world.services.settings.data_dir / "work").glob("*"))


async def test_the_hevc_rendition_joins_the_master_playlist(tmp_path: Path) -> None:
    source = tmp_path / "hd.mp4"
    await make_clip(source, seconds=2, width=720, height=1280, fps=15)
    async with running_world(tmp_path / "data", transcode_hevc=True) as world:
        token = await signup(world.client, "ana")
        accepted = await world.publish(token, source.read_bytes())
        video = await world.hevc_done(accepted["id"])
        names = [(r["name"], r["codec"]) for r in video["renditions"]]
        assert names == [("360p", "h264"), ("720p", "h264"), ("720p-hevc", "hevc")]
        master = (await world.client.get(video["manifest_url"])).text
        assert 'CODECS="hvc1.' in master
        assert master.index("avc1") < master.index("hvc1")  # H.264 first
