"""Exploration over the in-process cache, with a fake signals reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from flick.platform.cache.memory import MemoryCache
from flick.recs.entities import CreatorSignals, VideoSignals
from flick.recs.exploration import (
    DECAY_FLOOR,
    INITIAL_BUDGET,
    MIN_TEST_VIEWS,
    POOL_KEEP_S,
    PROMOTED_BUDGET,
    SECOND_REVIEW_S,
    TEST_WINDOW_S,
    Exploration,
    ReviewResult,
)

T0 = 3600.0 * 500_000  # on an hour boundary: every video admitted in the next hour shares a cohort
AFTER_WINDOW = T0 + TEST_WINDOW_S + 1


class FakeSignals:
    """A SignalsReader over a dict; absent videos read as zeros, as the real one does."""

    def __init__(self) -> None:
        self.by_video: dict[int, VideoSignals] = {}

    def watched(self, video_id: int, *, views: int, completions: int) -> None:
        self.by_video[video_id] = VideoSignals(video_id, views_1h=views, completions_1h=completions)

    async def videos(self, video_ids: Sequence[int]) -> dict[int, VideoSignals]:
        return {v: self.by_video.get(v, VideoSignals(v)) for v in video_ids}

    async def creators(self, creator_ids: Sequence[int]) -> dict[int, CreatorSignals]:
        return {c: CreatorSignals(c) for c in creator_ids}


@pytest.fixture
async def cache() -> AsyncIterator[MemoryCache]:
    memory = MemoryCache()
    yield memory
    await memory.close()


@pytest.fixture
def explore(cache: MemoryCache) -> Exploration:
    return Exploration(cache)


async def budget(cache: MemoryCache, video_id: int) -> int | None:
    raw = await cache.get(f"explore:budget:{video_id}")
    return None if raw is None else int(raw)


async def admit_cohort(explore: Exploration, signals: FakeSignals) -> None:
    """Videos 1-6 by creators 101-106, watched 120 times each; 4, 5 and 6 beat the median."""
    for video_id, completions in zip(range(1, 7), (20, 30, 40, 50, 60, 110), strict=True):
        await explore.admit(video_id, creator_id=100 + video_id, ready_at=T0 + video_id)
        signals.watched(video_id, views=120, completions=completions)


async def test_a_new_video_gets_the_initial_budget_and_is_a_candidate(
    explore: Exploration, cache: MemoryCache
) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0)
    assert await budget(cache, 1) == INITIAL_BUDGET
    assert await explore.candidates(5, now=T0 + 1) == [1]


async def test_a_brand_new_creator_reaches_an_audience(explore: Exploration) -> None:
    for video_id in range(1, 21):  # established creators' videos, all older
        await explore.admit(video_id, creator_id=video_id % 4, ready_at=T0 + video_id)
    await explore.admit(99, creator_id=5_000, ready_at=T0 + 100)  # no followers, no signals
    assert (await explore.candidates(3, now=T0 + 200))[0] == 99


async def test_impressions_spend_the_budget_and_the_video_leaves_at_zero(
    explore: Exploration, cache: MemoryCache
) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0)
    await explore.record_impressions([1] * (INITIAL_BUDGET - 1))
    assert await explore.candidates(5, now=T0 + 1) == [1]
    await explore.record_impressions([1, 1, 1])  # two more than left: never negative
    assert await budget(cache, 1) is None  # spent: the counter is gone
    assert await explore.candidates(5, now=T0 + 1) == []


async def test_unknown_ids_are_ignored(explore: Exploration, cache: MemoryCache) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0)
    await explore.record_impressions([404, 1, 405])
    assert await budget(cache, 404) is None
    assert await budget(cache, 1) == INITIAL_BUDGET - 1
    await explore.record_impressions([])


async def test_a_creator_appears_at_most_once_per_answer(explore: Exploration) -> None:
    for video_id in (1, 2, 3):
        await explore.admit(video_id, creator_id=10, ready_at=T0 + video_id)
    await explore.admit(4, creator_id=11, ready_at=T0)
    assert await explore.candidates(10, now=T0 + 10) == [3, 4]  # creator 10's freshest only
    assert await explore.candidates(10, now=T0 + 10, exclude={3}) == [2, 4]
    assert await explore.candidates(1, now=T0 + 10) == [3]
    assert await explore.candidates(0, now=T0 + 10) == []


async def test_a_video_ready_later_than_now_waits(explore: Exploration) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0 + 60)
    assert await explore.candidates(5, now=T0) == []
    assert await explore.candidates(5, now=T0 + 60) == [1]


async def test_admit_is_idempotent_and_removal_is_final(
    explore: Exploration, cache: MemoryCache
) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0)
    await explore.record_impressions([1] * 50)
    await explore.admit(1, creator_id=10, ready_at=T0)  # a redelivered video.ready
    assert await budget(cache, 1) == INITIAL_BUDGET - 50
    await explore.remove(1)
    await explore.admit(1, creator_id=10, ready_at=T0)
    assert await explore.candidates(5, now=T0 + 1) == []
    assert await budget(cache, 1) is None


async def test_review_promotes_videos_that_beat_their_cohort(
    explore: Exploration, cache: MemoryCache
) -> None:
    signals = FakeSignals()
    await admit_cohort(explore, signals)
    result = await explore.review(signals, now=AFTER_WINDOW)
    assert result == ReviewResult(promoted=3, decayed=3)
    assert [await budget(cache, v) for v in range(1, 7)] == [INITIAL_BUDGET // 2] * 3 + [
        PROMOTED_BUDGET
    ] * 3
    # Promoted videos (a head start; ties by id) come before the test videos admitted with them.
    assert await explore.candidates(6, now=AFTER_WINDOW) == [4, 5, 6, 3, 2, 1]


async def test_review_is_idempotent_at_the_same_moment(
    explore: Exploration, cache: MemoryCache
) -> None:
    signals = FakeSignals()
    await admit_cohort(explore, signals)
    await explore.review(signals, now=AFTER_WINDOW)
    assert await explore.review(signals, now=AFTER_WINDOW) == ReviewResult()
    assert await budget(cache, 1) == INITIAL_BUDGET // 2


async def test_a_weak_video_decays_then_retires(explore: Exploration, cache: MemoryCache) -> None:
    signals = FakeSignals()
    await admit_cohort(explore, signals)
    budgets = []
    for minute in range(5):
        result = await explore.review(signals, now=AFTER_WINDOW + 60 * minute)
        budgets.append(await budget(cache, 1))
    assert budgets == [100, 50, 25, None, None]  # 25 // 2 < DECAY_FLOOR: retired
    assert 25 // 2 < DECAY_FLOOR <= 25
    assert result == ReviewResult()
    assert set(await explore.candidates(10, now=AFTER_WINDOW + 300)) == {4, 5, 6}


async def test_a_spent_test_video_that_beats_its_cohort_returns(explore: Exploration) -> None:
    signals = FakeSignals()
    await admit_cohort(explore, signals)
    await explore.record_impressions([6] * INITIAL_BUDGET)
    assert 6 not in await explore.candidates(10, now=T0 + 10)
    await explore.review(signals, now=AFTER_WINDOW)
    assert 6 in await explore.candidates(10, now=AFTER_WINDOW)


async def test_the_cohort_is_the_same_hours_watched_videos(
    explore: Exploration, cache: MemoryCache
) -> None:
    signals = FakeSignals()
    for video_id in range(1, 6):  # strong and watched: they set the bar
        await explore.admit(video_id, creator_id=video_id, ready_at=T0)
        signals.watched(video_id, views=120, completions=100)
    for video_id in range(7, 17):  # unwatched (at the prior): not part of the median
        await explore.admit(video_id, creator_id=video_id, ready_at=T0)
    for video_id in range(20, 30):  # weak, but admitted an hour later: another cohort
        await explore.admit(video_id, creator_id=video_id, ready_at=T0 + 3600)
        signals.watched(video_id, views=120, completions=10)
    await explore.admit(6, creator_id=6, ready_at=T0)
    signals.watched(6, views=120, completions=60)  # above the prior, below its cohort
    await explore.review(signals, now=AFTER_WINDOW)
    assert await budget(cache, 6) == INITIAL_BUDGET // 2


async def test_a_well_watched_video_is_judged_before_its_window_ends(
    explore: Exploration, cache: MemoryCache
) -> None:
    signals = FakeSignals()
    await explore.admit(1, creator_id=10, ready_at=T0)
    await explore.admit(2, creator_id=11, ready_at=T0)
    signals.watched(1, views=MIN_TEST_VIEWS, completions=80)  # cohort too small: vs the prior
    signals.watched(2, views=MIN_TEST_VIEWS - 1, completions=80)  # not enough views yet
    assert await explore.review(signals, now=T0 + 300) == ReviewResult(promoted=1)
    assert await budget(cache, 1) == PROMOTED_BUDGET
    assert await budget(cache, 2) == INITIAL_BUDGET


async def test_a_promoted_video_is_reviewed_again(explore: Exploration, cache: MemoryCache) -> None:
    signals = FakeSignals()
    await admit_cohort(explore, signals)
    await explore.review(signals, now=AFTER_WINDOW)
    await explore.record_impressions([6] * 500)
    for video_id in (1, 2, 3):  # the decayed ones: no views in the last hour any more
        signals.by_video.pop(video_id)
    signals.watched(4, views=500, completions=100)  # below the prior (cohort now too small)
    signals.watched(6, views=500, completions=300)  # above it
    assert await explore.review(signals, now=AFTER_WINDOW + SECOND_REVIEW_S - 1) == ReviewResult(
        decayed=3  # only the test videos (at the prior: not above it); promoted ones wait
    )
    result = await explore.review(signals, now=AFTER_WINDOW + SECOND_REVIEW_S)
    assert result == ReviewResult(promoted=2, retired=1)  # 5: unchanged, still above the prior
    assert await budget(cache, 4) is None
    assert await budget(cache, 6) == PROMOTED_BUDGET


async def test_old_videos_age_out_of_the_pool(explore: Exploration, cache: MemoryCache) -> None:
    await explore.admit(1, creator_id=10, ready_at=T0)
    assert await explore.review(FakeSignals(), now=T0 + POOL_KEEP_S + 1) == ReviewResult(expired=1)
    assert await explore.candidates(5, now=T0 + POOL_KEEP_S + 1) == []
    assert await cache.zcard("explore:pool") == 0
