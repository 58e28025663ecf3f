from __future__ import annotations

import math

import numpy as np
import pytest

from flick.recs.data import Interactions
from flick.recs.evaluation import ndcg_at_k, recall_at_k, temporal_split, top_k


def test_recall_by_hand() -> None:
    ranked = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    relevant = [np.array([2, 9]), np.array([5, 6, 7])]
    assert recall_at_k(ranked, relevant) == pytest.approx((1 / 2 + 3 / 3) / 2)


def test_ndcg_by_hand() -> None:
    ranked = np.array([[1, 2, 3], [4, 5, 6]])
    relevant = [np.array([2]), np.array([4, 6, 9, 10])]
    first = (1 / math.log2(3)) / 1.0
    second = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at_k(ranked, relevant) == pytest.approx((first + second) / 2)


def test_perfect_ranking_scores_one() -> None:
    ranked = np.array([[3, 1, 2]])
    assert ndcg_at_k(ranked, [np.array([1, 3])]) == pytest.approx(1.0)
    assert recall_at_k(ranked, [np.array([1, 3])]) == 1.0


def test_top_k_never_returns_seen_columns() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    ranked = top_k(scores, [np.array([0]), np.array([3, 2])], k=2)
    assert ranked.tolist() == [[1, 2], [1, 0]]


def test_top_k_of_fewer_columns_than_k_ranks_them_all() -> None:
    # A demo world of six videos asks for the top 20 (flick demo --videos 6 crashed here).
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    ranked = top_k(scores, [np.array([1]), np.array([], dtype=int)], k=20)
    assert ranked.tolist() == [[2, 0, 1], [0, 1, 2]]  # the seen one last


def test_temporal_split_holds_out_each_users_latest() -> None:
    n = 10
    log = Interactions(
        user_id=np.array([1] * n + [2] * 5),
        video_id=np.arange(15),
        timestamp=np.r_[np.arange(n)[::-1], np.arange(5)].astype(float),
        watch_ratio=np.ones(15, np.float32),
        positive=np.ones(15, bool),
        device=np.zeros(15, np.int64),
        locale=np.zeros(15, np.int64),
    )
    split = temporal_split(log, test_share=0.2)
    assert sorted(split.test.video_id.tolist()) == [0, 1, 14]  # user 1's newest are ids 0, 1
    for user in (1, 2):
        train_times = split.train.timestamp[split.train.user_id == user]
        test_times = split.test.timestamp[split.test.user_id == user]
        assert train_times.max() < test_times.min()
    assert len(split.train) + len(split.test) == len(log)
