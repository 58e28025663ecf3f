"""The ranker's blend, its rules and the learned option, on hand-made signals."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flick.recs.entities import PRIOR_COMPLETION, PRIOR_LIKE_RATE, CreatorSignals, VideoSignals
from flick.recs.ranker import (
    FEATURES,
    FRESHNESS_HALF_LIFE_S,
    MISSING_RETRIEVAL,
    SOURCES,
    Candidate,
    Ranker,
    RankWeights,
    Scored,
    Source,
    drop_seen,
    features,
    fit_weights,
    mix_sources,
    space_creators,
)

NOW = 1_800_000_000.0


class FakeSignals:
    """A SignalsReader over dicts that counts its calls; absent ids are left out of the
    answer (the ranker must not rely on the reader filling them in)."""

    def __init__(
        self,
        videos: dict[int, VideoSignals] | None = None,
        creators: dict[int, CreatorSignals] | None = None,
    ) -> None:
        self.by_video = videos or {}
        self.by_creator = creators or {}
        self.calls: list[tuple[str, list[int]]] = []

    async def videos(self, video_ids: Sequence[int]) -> dict[int, VideoSignals]:
        self.calls.append(("videos", list(video_ids)))
        return {v: self.by_video[v] for v in video_ids if v in self.by_video}

    async def creators(self, creator_ids: Sequence[int]) -> dict[int, CreatorSignals]:
        self.calls.append(("creators", list(creator_ids)))
        return {c: self.by_creator[c] for c in creator_ids if c in self.by_creator}


def candidate(
    video_id: int,
    *,
    creator_id: int = 0,
    age: float = 0.0,
    retrieval: float | None = 0.5,
    source: Source = "retrieval",
) -> Candidate:
    return Candidate(video_id, creator_id or video_id + 1000, NOW - age, retrieval, source)


def scored(video_id: int, creator_id: int, score: float) -> Scored:
    return Scored(candidate(video_id, creator_id=creator_id), score, ())


def watched(video_id: int, *, views: int, completions: int, likes: int = 0) -> VideoSignals:
    return VideoSignals(
        video_id,
        views_1h=views,
        completions_1h=completions,
        likes_1h=likes,
        watch_ratio_sum_1h=completions * 1.0 + (views - completions) * 0.2,
    )


async def test_the_blend_is_the_documented_sum() -> None:
    # No signals at all: every rate is its prior, the creator's quality too.
    (only,) = await Ranker().rank([candidate(1)], signals=FakeSignals(), now=NOW)
    creator_prior = PRIOR_COMPLETION + PRIOR_LIKE_RATE
    expected = (
        1.0 * 0.5  # retrieval
        + 0.5 * PRIOR_COMPLETION
        + 2.0 * PRIOR_LIKE_RATE
        + 1.0 * PRIOR_COMPLETION  # mean watch ratio, smoothed towards the completion prior
        + 0.05 * 0.0  # log1p(trending 0)
        + 0.2 * 1.0  # brand new
        + 0.3 * creator_prior
    )
    assert only.score == pytest.approx(expected)
    assert set(only.features) == set(FEATURES)
    assert only.score == pytest.approx(RankWeights().score(only.features))


async def test_signals_order_the_candidates() -> None:
    signals = FakeSignals(
        videos={
            1: watched(1, views=200, completions=40),  # below the prior
            2: watched(2, views=200, completions=150, likes=30),  # loved
            3: watched(3, views=200, completions=70),  # at the prior
        }
    )
    ranked = await Ranker().rank(
        [candidate(1), candidate(2), candidate(3)], signals=signals, now=NOW
    )
    assert [s.candidate.video_id for s in ranked] == [2, 3, 1]


async def test_retrieval_outweighs_a_small_signal_difference() -> None:
    signals = FakeSignals(videos={1: watched(1, views=200, completions=80)})
    ranked = await Ranker().rank(
        [candidate(1, retrieval=0.3), candidate(2, retrieval=0.7)], signals=signals, now=NOW
    )
    assert [s.candidate.video_id for s in ranked] == [2, 1]


async def test_missing_signals_and_retrieval_fall_back_to_priors() -> None:
    values = features(
        candidate(1, retrieval=None, source="following"),
        VideoSignals(1),
        CreatorSignals(7),
        now=NOW,
    )
    assert values["retrieval"] == MISSING_RETRIEVAL["following"]
    assert values["completion"] == pytest.approx(PRIOR_COMPLETION)
    assert values["like"] == pytest.approx(PRIOR_LIKE_RATE)
    assert values["creator"] == pytest.approx(PRIOR_COMPLETION + PRIOR_LIKE_RATE)
    ranked = await Ranker().rank(
        [
            candidate(1, retrieval=None, source="following"),
            candidate(2, retrieval=None, source="exploration"),
        ],
        signals=FakeSignals(),
        now=NOW,
    )
    assert [s.candidate.video_id for s in ranked] == [1, 2]  # following's default is higher


async def test_freshness_halves_every_half_life() -> None:
    ages = [0.0, FRESHNESS_HALF_LIFE_S, 2 * FRESHNESS_HALF_LIFE_S]
    fresh = [
        features(candidate(1, age=age), VideoSignals(1), CreatorSignals(1), now=NOW)["fresh"]
        for age in ages
    ]
    assert fresh == pytest.approx([1.0, 0.5, 0.25])
    future = features(candidate(1, age=-60), VideoSignals(1), CreatorSignals(1), now=NOW)
    assert future["fresh"] == 1.0  # a clock ahead of ours does not make a video fresher than new
    ranked = await Ranker().rank(
        [candidate(1, age=86_400), candidate(2, age=60)], signals=FakeSignals(), now=NOW
    )
    assert [s.candidate.video_id for s in ranked] == [2, 1]


async def test_trending_is_log_scaled() -> None:
    hot = VideoSignals(1, views_5m=50, views_1h=100, completions_1h=60)
    values = features(candidate(1), hot, CreatorSignals(1), now=NOW)
    assert values["trending"] == pytest.approx(math.log1p(hot.trending))


async def test_signals_are_read_in_one_batch_each() -> None:
    signals = FakeSignals()
    batch = [candidate(v, creator_id=c) for v, c in [(1, 10), (2, 10), (3, 11), (1, 10)]]
    await Ranker().rank(batch, signals=signals, now=NOW)
    assert signals.calls == [("videos", [1, 2, 3]), ("creators", [10, 11])]


async def test_ties_break_by_video_id_and_duplicates_rank_once() -> None:
    batch = [candidate(2, creator_id=1, retrieval=None, source="trending")]  # a weaker copy
    batch += [candidate(v, creator_id=1) for v in (3, 1, 2)]
    ranked = await Ranker().rank(batch, signals=FakeSignals(), now=NOW)
    assert [s.candidate.video_id for s in ranked] == [1, 2, 3]
    assert ranked[1].candidate.source == "retrieval"
    assert await Ranker().rank([], signals=FakeSignals(), now=NOW) == []


async def test_rules_apply_in_order() -> None:
    batch = [candidate(v, creator_id=1 + (v == 4), retrieval=1 - v / 10) for v in (1, 2, 3, 4)]
    ranked = await Ranker().rank(
        batch, signals=FakeSignals(), now=NOW, rules=[drop_seen({1}), space_creators(window=2)]
    )
    assert [s.candidate.video_id for s in ranked] == [2, 4, 3]


def test_drop_seen() -> None:
    items = [scored(1, 1, 3.0), scored(2, 1, 2.0), scored(3, 2, 1.0)]
    assert [s.candidate.video_id for s in drop_seen([2, 9])(items)] == [1, 3]
    assert drop_seen([])(items) == items


def test_space_creators_moves_a_repeat_down_only_as_far_as_it_must() -> None:
    creators = [1, 1, 2, 3, 4, 5, 6]  # already in score order
    items = [scored(v, c, 10.0 - v) for v, c in enumerate(creators)]
    assert [s.candidate.video_id for s in space_creators()(items)] == [0, 2, 3, 4, 5, 1, 6]


def test_space_creators_puts_what_cannot_be_placed_at_the_end() -> None:
    items = [scored(1, 1, 4.0), scored(2, 1, 3.0), scored(3, 1, 2.0), scored(4, 2, 1.0)]
    assert [s.candidate.video_id for s in space_creators()(items)] == [1, 4, 2, 3]
    with pytest.raises(ValueError, match="window"):
        space_creators(window=0)


@given(
    st.lists(st.integers(min_value=0, max_value=7), max_size=40),
    st.integers(min_value=1, max_value=6),
)
def test_space_creators_holds_for_every_window_and_keeps_every_item(
    creators: list[int], window: int
) -> None:
    items = [scored(v, c, float(len(creators) - v)) for v, c in enumerate(creators)]
    out = space_creators(window)(items)
    assert sorted(s.candidate.video_id for s in out) == list(range(len(items)))
    by = [s.candidate.creator_id for s in out]
    stall = next((i for i in range(len(by)) if by[i] in by[max(0, i - window + 1) : i]), len(by))
    # Up to the first repeat, every window of `window` items has distinct creators; from it
    # on, only creators that had no room left (those of the window before the stall).
    for i in range(stall):
        window_creators = by[i : min(stall, i + window)]
        assert len(set(window_creators)) == len(window_creators)
    assert set(by[stall:]) <= set(by[max(0, stall - window + 1) : stall])
    # Each creator's own videos keep their score order; the top item stays first.
    for creator in set(creators):
        ids = [s.candidate.video_id for s in out if s.candidate.creator_id == creator]
        assert ids == sorted(ids)
    assert out[:1] == items[:1]


def by_source(*sources: Source) -> list[Scored]:
    """Items already in rank order (video id = rank), from the given sources."""
    return [Scored(candidate(v, source=s), -float(v), ()) for v, s in enumerate(sources)]


def test_mix_sources_interleaves_by_share_keeping_each_sources_order() -> None:
    items = by_source(*["retrieval"] * 6, *["exploration"] * 4)
    mixed = mix_sources({"retrieval": 1, "exploration": 1})(items)
    assert [s.candidate.video_id for s in mixed] == [0, 6, 1, 7, 2, 8, 3, 9, 4, 5]
    # 3:1: one exploration item in every four (ties go to the larger share), then the rest
    mixed = mix_sources({"retrieval": 3, "exploration": 1})(items)
    assert [s.candidate.video_id for s in mixed] == [0, 1, 6, 2, 3, 4, 7, 5, 8, 9]


def test_mix_sources_gives_an_exhausted_sources_slots_to_the_others() -> None:
    items = by_source("trending", *["retrieval"] * 4, *["following"] * 4)
    mixed = mix_sources({"retrieval": 1, "following": 1, "trending": 2})(items)
    assert [s.candidate.source for s in mixed] == [
        "trending",
        *["retrieval", "following"] * 4,
    ]
    # a source without a share fills only what the others leave
    mixed = mix_sources({"retrieval": 1})(by_source("following", "retrieval", "retrieval"))
    assert [s.candidate.video_id for s in mixed] == [1, 2, 0]


def test_mix_sources_refuses_shares_that_mix_nothing() -> None:
    for shares in ({"retrieval": 0.0}, {"retrieval": -1.0, "trending": 2.0}, {}):
        with pytest.raises(ValueError, match="shares"):
            mix_sources(shares)  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(SOURCES), max_size=60), st.lists(st.integers(0, 5), min_size=4))
def test_mix_sources_keeps_every_item_in_its_sources_order(
    sources: list[Source], weights: list[int]
) -> None:
    shares = dict(zip(SOURCES, weights, strict=False))
    if not any(shares.values()):
        shares["exploration"] = 1
    items = by_source(*sources)
    mixed = mix_sources(shares)(items)
    assert sorted(s.candidate.video_id for s in mixed) == list(range(len(items)))
    for source in SOURCES:
        ids = [s.candidate.video_id for s in mixed if s.candidate.source == source]
        assert ids == sorted(ids)


def reference_mix(shares: dict[Source, int], ranked: list[Scored]) -> list[Scored]:
    """mix_sources as its docstring states it: one max() over the sources per position."""
    total = sum(shares.values())
    normal = {source: shares.get(source, 0) / total for source in SOURCES}
    queues = {s: deque(x for x in ranked if x.candidate.source == s) for s in SOURCES}
    taken = dict.fromkeys(SOURCES, 0)
    placed = []
    for k in range(1, len(ranked) + 1):
        source = max(
            (s for s in SOURCES if queues[s]),
            key=lambda s: (normal[s] * k - taken[s], normal[s], -SOURCES.index(s)),
        )
        placed.append(queues[source].popleft())
        taken[source] += 1
    return placed


@given(st.lists(st.sampled_from(SOURCES), max_size=80), st.lists(st.integers(0, 5), min_size=4))
def test_mix_sources_places_as_the_stated_rule(sources: list[Source], weights: list[int]) -> None:
    shares = dict(zip(SOURCES, weights, strict=False))
    if not any(shares.values()):
        shares["trending"] = 1
    items = by_source(*sources)
    assert mix_sources(shares)(items) == reference_mix(shares, items)


@given(st.lists(st.integers(0, 5), min_size=4, max_size=4), st.randoms(use_true_random=False))
def test_mix_sources_holds_every_prefix_within_one_of_its_share(
    weights: list[int], rng: random.Random
) -> None:
    if not any(weights):
        weights[0] = 1
    length = 40
    sources = [s for s in SOURCES for _ in range(length)]  # enough of each
    rng.shuffle(sources)
    mixed = mix_sources(dict(zip(SOURCES, weights, strict=True)))(by_source(*sources))
    taken = dict.fromkeys(SOURCES, 0)
    for n, item in enumerate(mixed[:length], start=1):
        taken[item.candidate.source] += 1
        for source, weight in zip(SOURCES, weights, strict=True):
            assert abs(taken[source] - n * weight / sum(weights)) < 1, (n, source)


def test_fit_weights_recovers_known_weights() -> None:
    rng = np.random.default_rng(7)
    truth = RankWeights(0.8, 0.3, 1.5, 0.9, 0.1, 0.25, creator=0.4, bias=-0.2)
    logged = []
    for _ in range(2_000):
        values = {name: float(rng.uniform(0, 1)) for name in FEATURES}
        logged.append((values, truth.score(values) + float(rng.normal(0, 0.01))))
    fitted = fit_weights(logged)
    for name in (*FEATURES, "bias"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), abs=0.01), name
    with pytest.raises(ValueError, match="logged pairs"):
        fit_weights(logged[: len(FEATURES)])
