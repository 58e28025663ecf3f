from __future__ import annotations

import math

import numpy as np
import torch

from flick.recs.data import Sequences, StaticDataset
from flick.recs.model import ServingModel, TwoTower, UserInputs, VideoInputs, sampled_softmax_loss
from tests.unit.recs.conftest import TINY_MODEL


def test_logq_loss_matches_a_hand_computation() -> None:
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    videos = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    log_q = torch.log(torch.tensor([0.75, 0.25]))
    loss = sampled_softmax_loss(
        users, videos, video_keys=torch.tensor([0, 1]), log_q=log_q, temperature=0.5
    )
    # logits are u.v / 0.5 - log q, row by row
    row0 = [1.2 - math.log(0.75), 0.0 - math.log(0.25)]
    row1 = [1.6 - math.log(0.75), 2.0 - math.log(0.25)]
    expected = (
        -row0[0] + math.log(sum(map(math.exp, row0))) - row1[1] + math.log(sum(map(math.exp, row1)))
    ) / 2
    assert loss.item() == pytest_approx(expected)


def test_logq_lowers_the_popular_negative() -> None:
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    videos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    keys = torch.tensor([0, 1])
    plain = sampled_softmax_loss(users, videos, video_keys=keys, log_q=None, temperature=1.0)
    corrected = sampled_softmax_loss(
        users, videos, video_keys=keys, temperature=1.0, log_q=torch.log(torch.tensor([0.5, 0.5]))
    )
    assert plain.item() == pytest_approx(corrected.item())  # a uniform q changes nothing
    skewed = sampled_softmax_loss(
        users, videos, video_keys=keys, temperature=1.0, log_q=torch.log(torch.tensor([0.9, 0.1]))
    )
    assert skewed.item() != pytest_approx(plain.item())


def test_a_video_twice_in_a_batch_is_not_its_own_negative() -> None:
    users = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    videos = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss = sampled_softmax_loss(
        users, videos, video_keys=torch.tensor([5, 5]), log_q=None, temperature=0.1
    )
    assert loss.item() == pytest_approx(0.0)


def test_towers_give_unit_vectors_and_content_only_differs(tiny_dataset: StaticDataset) -> None:
    dataset = tiny_dataset
    catalog = dataset.catalog()
    model = TwoTower(TINY_MODEL).eval()
    serving = ServingModel(model)
    videos = VideoInputs.from_catalog(catalog, np.arange(5))
    full = serving.video_embeddings(videos)
    content = serving.video_embeddings(videos, content_only=True)
    assert full.shape == (5, 64) and full.dtype == np.float32
    assert np.allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(full, content)
    seq = Sequences.build(dataset.interactions(), catalog)
    users = UserInputs.for_requests(
        seq,
        catalog,
        np.array([1, 2, 10**12]),
        length=50,
        timestamp=np.array([0.0, 3.6e3, 7.2e3]),
        device=np.array([1, 2, 0]),
        locale=np.array([1, 1, 0]),
    )
    vectors = serving.user_embeddings(users)
    assert vectors.shape == (3, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-5, abs=1e-6)
