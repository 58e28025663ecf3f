"""Small worlds and models that train in a second or two."""

from __future__ import annotations

import pytest
import torch

from flick.recs.data import StaticDataset
from flick.recs.features import HashedTextEmbedder
from flick.recs.model import ModelConfig
from flick.recs.simulation import World, WorldConfig

TINY_WORLD = WorldConfig(users=200, creators=20, videos=300, sessions_per_user=8, seed=3)
TINY_MODEL = ModelConfig(
    user_buckets=2**10, video_buckets=2**10, creator_buckets=2**8, tag_buckets=2**8, hidden=64
)


@pytest.fixture(autouse=True, scope="session")
def one_thread() -> None:
    torch.set_num_threads(1)  # tests share a 2-core machine with other work


@pytest.fixture(scope="session")
def tiny_world() -> World:
    return World(TINY_WORLD)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_world: World) -> StaticDataset:
    return tiny_world.dataset(text=HashedTextEmbedder())
