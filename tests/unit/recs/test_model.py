from __future__ import annotations

import math
from dataclasses import replace

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


def test_extra_negative_columns_and_bias_enter_the_softmax() -> None:
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    videos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    keys = torch.tensor([7, 8, 7, 9])  # column 2 shows row 0's own video: not its negative
    bias = torch.tensor([0.0, 0.5, 0.0, -0.5])
    loss = sampled_softmax_loss(
        users, videos, video_keys=keys, log_q=None, temperature=1.0, bias=bias
    )
    row0 = [1.0, 0.5, 0.1]  # columns 0, 1, 3
    row1 = [0.0, 1.5, 0.0, 0.3]  # columns 0, 1, 2, 3
    expected = (
        -row0[0] + math.log(sum(map(math.exp, row0))) - row1[1] + math.log(sum(map(math.exp, row1)))
    ) / 2
    assert loss.item() == pytest_approx(expected)


def test_recency_weights_the_newest_watches_more(tiny_dataset: StaticDataset) -> None:
    catalog = tiny_dataset.catalog()
    seq = Sequences.build(tiny_dataset.interactions(), catalog)
    inputs = UserInputs.from_sequences(seq, catalog, np.array([20, 30]), length=8)
    flat = TwoTower(TINY_MODEL)
    recent = TwoTower(replace(TINY_MODEL, recency_half_life=2.0, short_history=3))
    shared = {k: v for k, v in flat.state_dict().items() if not k.startswith("user_mlp")}
    recent.load_state_dict(shared, strict=False)  # user_mlp differs in width
    with torch.no_grad():
        (plain,) = flat._history(inputs)
        decayed, short = recent._history(inputs)
        items = flat.video_id(torch.from_numpy(bucket_video(inputs.history_video_id)))
        items = (
            items
            + flat.content(torch.from_numpy(inputs.history_features))[
                torch.from_numpy(inputs.history_row)
            ]
        )
        age = torch.arange(7, -1, -1, dtype=torch.float32)
        weights = torch.from_numpy(inputs.history_weight) * 0.5 ** (age / 2.0)
        expected = (items * weights[..., None]).sum(1) / weights.sum(1, keepdim=True)
        assert torch.allclose(decayed, expected, atol=1e-5)
        assert not torch.allclose(decayed, plain)
        last = (items[:, -3:] * weights[:, -3:, None]).sum(1) / weights[:, -3:].sum(1)[:, None]
        assert torch.allclose(short, last, atol=1e-5)
    assert recent.users(inputs).shape == (2, 64)


def test_item_bias_and_the_popularity_offset(tiny_dataset: StaticDataset) -> None:
    catalog = tiny_dataset.catalog()
    videos = VideoInputs.from_catalog(catalog, np.arange(4))
    assert torch.equal(TwoTower(TINY_MODEL).bias(videos), torch.zeros(4))
    biased = TwoTower(replace(TINY_MODEL, item_bias=True)).eval()
    assert biased.bias(videos).shape == (4,)
    assert len(biased.sparse_parameters()) == 5
    serving = ServingModel(TwoTower(replace(TINY_MODEL, popularity_weight=0.5)))
    offset = serving.popularity_offset(np.array([0, 1, 9]))
    assert np.allclose(offset, 0.5 * TINY_MODEL.temperature * np.log([1.0, 2.0, 10.0]))
    assert not ServingModel(TwoTower(TINY_MODEL)).popularity_offset(np.array([5])).any()


def bucket_video(ids: np.ndarray) -> np.ndarray:
    from flick.recs.hashing import bucket
    from flick.recs.model import _SALT

    return bucket(ids, TINY_MODEL.video_buckets, salt=_SALT["video"])
