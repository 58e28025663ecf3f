"""The closed loop on the platform's own data: watches recorded through the service become a
training set; a model trained on it is what serving loads."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from flick.bootstrap import Container, checkpoints_dir
from flick.gateway.metrics import IndexMetrics
from flick.recs.features import HashedTextEmbedder
from flick.recs.platform_data import platform_dataset
from flick.recs.retrieval import Retrieval
from flick.recs.service import WatchReport
from flick.recs.training import TrainConfig, train
from tests.unit.recs.conftest import TINY_MODEL

from .conftest import ready_video, signup, user_id


async def test_watches_train_a_model_that_serving_loads(
    client: httpx.AsyncClient, services: Container
) -> None:
    creator = await user_id(client, await signup(client, "maker"))
    videos = [await ready_video(services, creator, sha256=f"{n:064x}") for n in range(6)]
    viewers = [await user_id(client, await signup(client, f"watcher{n}")) for n in range(4)]
    for n, viewer in enumerate(viewers):
        reports = [WatchReport(v, 9_500 if (v + n) % 2 else 800) for v in videos]
        assert (await services.watches.record(viewer, reports)).accepted == len(videos)

    dataset = await platform_dataset(services.db, services.videos, text=HashedTextEmbedder())
    assert sorted(dataset.catalog().video_id.tolist()) == sorted(videos)
    log = dataset.interactions()
    assert len(log) == len(videos) * len(viewers)
    assert 0 < int(log.positive.sum()) < len(log)  # completions are positives, skips not

    directory = checkpoints_dir(services.settings)
    config = TrainConfig(epochs=1, batch_size=8, threads=1)
    result = train(dataset, config, model_config=TINY_MODEL, checkpoint_dir=directory)
    assert result.checkpoint is not None and Path(result.checkpoint).parent == directory
    serving = Retrieval(directory)
    assert serving.model is not None and serving.model.version == Path(result.checkpoint).name

    # /metrics shows what the replica serves: nothing before it holds a model, then the
    # checkpoint's version and each video added.
    metrics = IndexMetrics()
    registry = CollectorRegistry()
    registry.register(metrics)
    assert "flick_recs_index_videos 0.0" in generate_latest(registry).decode()
    metrics.serving = serving
    serving.add_video(videos[0], creator_id=creator, caption="a clip", hashtags=[], duration_s=9)
    exposed = generate_latest(registry).decode()
    assert "flick_recs_index_videos 1.0" in exposed
    assert f'flick_recs_model{{version="{serving.model.version}"}} 1.0' in exposed
