from __future__ import annotations

import numpy as np

from flick.recs.simulation import World, WorldConfig
from tests.unit.recs.conftest import TINY_WORLD


def test_same_seed_same_world_and_logs() -> None:
    one, two = World(TINY_WORLD), World(TINY_WORLD)
    assert one.captions == two.captions and one.hashtags == two.hashtags
    log_one, log_two = one.logs(), two.logs()
    for name in ("user_id", "video_id", "timestamp", "watch_ratio", "positive"):
        assert np.array_equal(getattr(log_one, name), getattr(log_two, name))
    assert np.array_equal(one.requests(20).user_id, two.requests(20).user_id)


def test_another_seed_another_world() -> None:
    other = World(WorldConfig(**{**TINY_WORLD.__dict__, "seed": 99}))
    assert other.captions != World(TINY_WORLD).captions


def test_watch_ratio_follows_taste(tiny_world: World) -> None:
    user = 1
    match = tiny_world.video_topics @ tiny_world.user_taste[user - 1]
    best, worst = np.argsort(-match)[:20] + 1, np.argsort(match)[:20] + 1
    when = np.full(20, 1_767_571_200.0 + 3600 * tiny_world.user_hour[user - 1])
    liked = tiny_world.expected_watch_ratio(np.full(20, user), best, when).mean()
    disliked = tiny_world.expected_watch_ratio(np.full(20, user), worst, when).mean()
    assert liked > 2 * disliked


def test_logs_are_time_ordered_sessions_with_positives(tiny_world: World) -> None:
    log = tiny_world.logs()
    assert len(log) == TINY_WORLD.users * TINY_WORLD.sessions_per_user * TINY_WORLD.feed_size
    assert 0.01 < log.positive.mean() < 0.5
    assert (log.watch_ratio >= 0).all() and (log.watch_ratio > 1).any()  # replays happen
    assert set(np.unique(log.device)) <= {1, 2, 3}


def test_a_policy_is_scored_on_the_same_sessions(tiny_world: World) -> None:
    requests = tiny_world.requests(50)

    def first_ten(req: object, k: int) -> np.ndarray:
        return np.tile(np.arange(1, k + 1), (50, 1))

    assert tiny_world.mean_watch_ratio(first_ten, requests) == tiny_world.mean_watch_ratio(
        first_ten, requests
    )
