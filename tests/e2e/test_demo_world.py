"""`flick demo` on a tiny world: clips made by ffmpeg go through upload, publish and the real
transcode worker; viewers follow, watch, like, comment and share; the recommender trains;
the demo login gets a For You page; a second run reuses the world, and an interrupted one
resumes without making anything twice."""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from flick.bootstrap import Container, bootstrap, checkpoints_dir
from flick.demo.manifest import Manifest
from flick.demo.seed import Summary, Training, manifest_path, seed_world
from flick.demo.world import DEMO_PASSWORD, DEMO_USERNAME, WorldSize, follows_of, plan_world
from flick.gateway.app import build_app
from flick.ingest.model import VideoStatus
from flick.media import MediaInfo, plan_ladder
from flick.migrations import upgrade_all
from flick.platform.settings import Settings
from flick.recs.exploration import POOL as EXPLORATION_POOL
from flick.recs.features import HashedTextEmbedder
from flick.recs.platform_data import platform_dataset
from flick.recs.retrieval import Retrieval, run_index_replica

from .conftest import embedded_settings

pytestmark = pytest.mark.slow

# 360x640 makes one H.264 rung and no HEVC pass: a quarter of the ffmpeg work of the real
# demo's 720x1280 (whose two rungs test_the_real_size_makes_two_rungs checks), through the
# same worker.
TINY = WorldSize(videos=4, viewers=10, seed=3, width=360, height=640, seconds=2.0)
QUICK_TRAINING = Training(
    epochs=1, threads=1, small=True, popularity_weight=0.0, text="hashed-ngrams"
)


async def _seed(settings: Settings) -> Summary:
    quiet = Console(file=io.StringIO())
    return await seed_world(settings, TINY, training=QUICK_TRAINING, console=quiet)


async def _migrated(settings: Settings) -> None:
    services = await bootstrap(settings)
    await upgrade_all(services.db)
    await services.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Summary]:
    """One tiny world for the module's tests (seeding it is the slow part)."""
    # The shared file cache, as `./run demo` uses: what seeding cached outlives its process.
    directory = tmp_path_factory.mktemp("demo")
    settings = embedded_settings(directory, transcode_concurrency=2, cache_url="lmdb://")
    asyncio.run(_migrated(settings))
    return settings, asyncio.run(_seed(settings))


def test_the_real_size_makes_two_rungs() -> None:
    size = WorldSize()
    info = MediaInfo("mov,mp4", size.seconds, size.width, size.height, size.fps, "h264", True)
    assert [rung.name for rung in plan_ladder(info)] == ["360p", "720p"]


async def _video_ids(services: Container) -> list[int]:
    return [video.id async for video, _ in services.videos.ready_videos()]


async def test_a_tiny_world_is_seeded_through_the_services(
    seeded: tuple[Settings, Summary],
) -> None:
    settings, summary = seeded
    world = plan_world(TINY)
    assert not summary.reused and summary.videos == 4 and summary.checkpoint == "v0001"
    assert not (settings.data_dir / "demo" / "clips").exists()  # spent once all are published
    services = await bootstrap(settings)
    try:
        ids = await _video_ids(services)
        assert len(ids) == 4
        for video_id in ids:
            view = await services.videos.view(video_id)
            assert view["status"] == VideoStatus.READY.value
            assert [(r["codec"], r["height"]) for r in view["renditions"]] == [("h264", 640)]
            assert view["hashtags"] and "#" in view["caption"]
        asset = await services.videos.asset_for_media(ids[0])
        assert asset is not None
        assert await services.blobs.stat(f"assets/{asset}/media/master.m3u8") is not None

        dataset = await platform_dataset(services.db, services.videos, text=HashedTextEmbedder())
        watches = sum(min(v.appetite, TINY.videos) for v in world.viewers)
        assert len(dataset.interactions()) == watches
        follows = sum(len(follows_of(world, v)) for v in world.viewers)
        assert summary.counts["followers"] == follows
        assert summary.counts["likes"] >= 1
    finally:
        await services.close()


async def test_the_demo_login_gets_a_personal_for_you(seeded: tuple[Settings, Summary]) -> None:
    settings, _ = seeded
    services = await bootstrap(settings)
    services.retrieval = Retrieval(checkpoints_dir(settings))
    assert services.retrieval.model is not None  # the checkpoint training wrote
    stop = asyncio.Event()
    replica = asyncio.ensure_future(run_index_replica(services.retrieval, services.bus, stop))
    try:
        for _ in range(200):  # the replica reads the `video` topic from its start
            if len(services.retrieval.videos) == TINY.videos:
                break
            await asyncio.sleep(0.1)
        transport = httpx.ASGITransport(app=build_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as http:
            login = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
            answer = await http.post("/api/v1/auth/login", json=login)
            assert answer.status_code == 200, answer.text
            token = answer.json()["token"]
            feed = await http.get(
                "/api/v1/feed/foryou", headers={"Authorization": f"Bearer {token}"}
            )
        assert feed.status_code == 200, feed.text
        assert feed.json()["items"]  # what the demo viewer has not watched yet
    finally:
        stop.set()
        await replica
        await services.close()


async def test_trending_and_exploration_outlive_the_seeding(
    seeded: tuple[Settings, Summary],
) -> None:
    """What `flick serve` finds after `flick demo` (a new process, here a new Container)."""
    services = await bootstrap(seeded[0])
    try:
        assert await services.signals.trending(10)
        assert await services.cache.zcard(EXPLORATION_POOL) == TINY.videos
    finally:
        await services.close()


async def test_a_second_run_reuses_the_world(seeded: tuple[Settings, Summary]) -> None:
    settings, first = seeded
    started = time.perf_counter()
    again = await _seed(settings)
    assert again.reused and time.perf_counter() - started < 5
    assert again.videos == first.videos and again.checkpoint == first.checkpoint


async def test_an_interrupted_seeding_resumes_without_duplicates(
    seeded: tuple[Settings, Summary], tmp_path: Path
) -> None:
    shutil.copytree(seeded[0].data_dir, tmp_path / "copy")
    settings = embedded_settings(tmp_path / "copy", transcode_concurrency=2, cache_url="lmdb://")
    # As if the run died right after publishing video 3, before noting it, and before the end.
    manifest = Manifest.load(manifest_path(settings), TINY)
    del manifest.videos[3]
    manifest.complete = False
    manifest.save()
    resumed = await _seed(settings)
    assert not resumed.reused and resumed.videos == 4
    services = await bootstrap(settings)
    try:
        assert len(await _video_ids(services)) == 4
    finally:
        await services.close()
