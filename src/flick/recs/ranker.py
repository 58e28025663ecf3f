"""The For You ranker: one score per candidate from retrieval, real-time signals, freshness and
creator quality, then business rules in order.

The score is a documented linear blend (`RankWeights`), read as a guess at the viewer's watch
ratio. Every score is logged with its feature breakdown (`Scored.features`), so `fit_weights`
can later replace the hand-set weights with ones learned from what viewers actually watched.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

from flick.recs.entities import CreatorSignals, SignalsReader, VideoSignals

Source = Literal["retrieval", "following", "trending", "exploration"]
SOURCES: tuple[Source, ...] = get_args(Source)  # mix_sources breaks ties in this order

FRESHNESS_HALF_LIFE_S = 12 * 3600.0  # a day-old video keeps a quarter of the freshness term
# The retrieval term of a candidate that did not come from the two-tower index: what a cosine
# of that source's typical match would be (top-k cosines of the index sit around 0.3-0.6).
MISSING_RETRIEVAL: Mapping[str, float] = {
    "retrieval": 0.0,  # should not happen: no evidence of a match
    "following": 0.5,  # the viewer chose this creator: as good as a strong retrieval match
    "trending": 0.2,  # popular with everyone, not matched to this viewer
    "exploration": 0.1,  # untested on purpose: the exploration budget, not the score, shows it
}
FEATURES = ("retrieval", "completion", "like", "watch", "trending", "fresh", "creator")
_FRESH_DECAY = math.log(2.0) / FRESHNESS_HALF_LIFE_S  # per second of age


@dataclass(frozen=True, slots=True)
class Candidate:
    """A video offered to the ranker by one of the For You sources."""

    video_id: int
    creator_id: int
    created_at: float  # unix seconds
    retrieval_score: float | None  # cosine from the two-tower index; None from other sources
    source: Source


@dataclass(frozen=True, slots=True)
class RankWeights:
    """score = bias + Σ weight x feature (the features are `features()`'s).

    Hand-set defaults, each against the typical size of its feature, the blend read as a
    watch-ratio guess: `watch` is that ratio measured (weight 1); `completion` largely repeats
    it (0.5); likes are rarer (~0.04) but the strongest satisfaction signal per event (2.0: a
    like rate of 0.10 adds 0.12); `retrieval` is the only term personal to the viewer (1.0: a
    cosine step of 0.1 is worth a 0.1 watch ratio); `trending` is log1p-scaled, up to ~7 for a
    hit (0.05: at most ~0.35, a tie-breaker, not a takeover); `fresh` is 1 for a new video (0.2:
    recent content is part of the product, not a reason to show a weak video); `creator` quality
    sits near 0.39 for everyone and matters for videos without their own signals (0.3).
    """

    retrieval: float = 1.0
    completion: float = 0.5
    like: float = 2.0
    watch: float = 1.0
    trending: float = 0.05
    fresh: float = 0.2
    creator: float = 0.3
    bias: float = 0.0

    def score(self, values: Mapping[str, float]) -> float:
        """The blend of one feature dict."""
        return self.bias + sum(getattr(self, name) * values[name] for name in FEATURES)

    def vector(self) -> tuple[float, ...]:
        """The weights in FEATURES order (the ranker multiplies them with `feature_values`)."""
        return tuple(getattr(self, name) for name in FEATURES)


@dataclass(frozen=True, slots=True)
class Scored:
    """A ranked candidate, with the feature values its score came from (for logs and
    learning), in FEATURES order."""

    candidate: Candidate
    score: float
    values: tuple[float, ...]

    @property
    def features(self) -> dict[str, float]:
        """The feature values by name."""
        return dict(zip(FEATURES, self.values, strict=True))


Rule = Callable[[list[Scored]], list[Scored]]


def features(
    candidate: Candidate, video: VideoSignals, creator: CreatorSignals, *, now: float
) -> dict[str, float]:
    """The ranker's inputs for one candidate, named as `RankWeights`' fields (FEATURES)."""
    return dict(zip(FEATURES, feature_values(candidate, video, creator, now=now), strict=True))


def feature_values(
    candidate: Candidate, video: VideoSignals, creator: CreatorSignals, *, now: float
) -> tuple[float, ...]:
    """`features` as a tuple in FEATURES order (what the ranker computes per candidate)."""
    retrieval = candidate.retrieval_score
    if retrieval is None:
        retrieval = MISSING_RETRIEVAL.get(candidate.source, 0.0)
    age = now - candidate.created_at
    return (
        retrieval,
        video.completion_rate,
        video.like_rate,
        video.mean_watch_ratio,
        math.log1p(video.trending),
        math.exp(-age * _FRESH_DECAY) if age > 0 else 1.0,
        creator.quality,
    )


class Ranker:
    """Scores candidates with a `RankWeights` blend and applies business rules."""

    def __init__(self, weights: RankWeights | None = None) -> None:
        self.weights = weights or RankWeights()

    async def rank(
        self,
        candidates: Sequence[Candidate],
        *,
        signals: SignalsReader,
        now: float,
        rules: Sequence[Rule] = (),
    ) -> list[Scored]:
        """Best first (ties by video id), then each rule in order. A video offered by several
        sources is ranked once, under its best-scoring one. Two signal reads per call."""
        if not candidates:
            return []
        video_ids = list(dict.fromkeys(c.video_id for c in candidates))
        creator_ids = list(dict.fromkeys(c.creator_id for c in candidates))
        videos = await signals.videos(video_ids)
        creators = await signals.creators(creator_ids)
        best: dict[int, Scored] = {}
        weights, bias = self.weights.vector(), self.weights.bias
        for candidate in candidates:
            video = videos.get(candidate.video_id) or VideoSignals(candidate.video_id)
            creator = creators.get(candidate.creator_id) or CreatorSignals(candidate.creator_id)
            values = feature_values(candidate, video, creator, now=now)
            # One C-level loop per candidate: the per-feature getattr of RankWeights.score
            # was a quarter of ranking a list.
            scored = Scored(candidate, bias + sum(map(operator.mul, weights, values)), values)
            kept = best.get(candidate.video_id)
            if kept is None or scored.score > kept.score:
                best[candidate.video_id] = scored
        ranked = sorted(best.values(), key=_order)
        for rule in rules:
            ranked = rule(ranked)
        return ranked


def drop_seen(seen_ids: Collection[int]) -> Rule:
    """A rule that removes the videos the viewer has already seen."""
    seen = frozenset(seen_ids)

    def rule(ranked: list[Scored]) -> list[Scored]:
        return [s for s in ranked if s.candidate.video_id not in seen]

    return rule


def space_creators(window: int = 5) -> Rule:
    """A rule: at most one video per creator in any `window` consecutive items.

    Greedy: each position takes the best-ranked remaining item whose creator is not among the
    previous `window - 1`, so a repeat moves down only as far as it must. When no remaining item
    fits (too few other creators left), the rest follows at the end in rank order: kept, not
    lost, the spacing broken only there.
    """
    if window < 1:
        raise ValueError(f"space_creators: window must be at least 1, not {window}")

    def rule(ranked: list[Scored]) -> list[Scored]:
        remaining = list(ranked)
        placed: list[Scored] = []
        while remaining:
            recent = {s.candidate.creator_id for s in placed[max(0, len(placed) - window + 1) :]}
            index = _first_not_by(remaining, recent)
            if index is None:
                break
            placed.append(remaining.pop(index))
        return placed + remaining

    return rule


def mix_sources(shares: Mapping[Source, float]) -> Rule:
    """A rule: each source's share of the list as `shares` says (weights, normalized here).

    Deficit interleave: position k (from 0) goes to the source furthest behind its share,
    the largest `share * (k + 1) - taken` among those with items left (ties: larger share,
    then SOURCES order), which gives its best-ranked remaining item. A source that runs out
    leaves its slots to the others in their proportion; one without a share (or not in
    `shares`) fills only what the others cannot. Nothing is dropped.
    """
    total = sum(shares.values())
    if any(not 0 <= share < math.inf for share in shares.values()) or total <= 0:
        raise ValueError(f"mix_sources: shares must be finite, at least 0 and not all 0: {shares}")
    normal = {source: shares.get(source, 0.0) / total for source in SOURCES}

    def rule(ranked: list[Scored]) -> list[Scored]:
        queues: dict[Source, deque[Scored]] = {source: deque() for source in SOURCES}
        for scored in ranked:
            queues[scored.candidate.source].append(scored)
        # The loop runs per position of a ~400-item list, so it compares plain numbers (a key
        # function per source per position was ~6 % of an assembly).
        lanes = [_Lane(normal[s], -n, queues[s]) for n, s in enumerate(SOURCES) if queues[s]]
        placed: list[Scored] = []
        k = 0
        while len(lanes) > 1:
            k += 1
            best, best_behind = lanes[0], lanes[0].share * k - lanes[0].taken
            for lane in lanes[1:]:
                behind = lane.share * k - lane.taken
                if behind > best_behind or (behind == best_behind and lane.ties_above(best)):
                    best, best_behind = lane, behind
            placed.append(best.queue.popleft())
            best.taken += 1
            if not best.queue:
                lanes.remove(best)
        for lane in lanes:  # the last source left takes the rest, in its order
            placed.extend(lane.queue)
        return placed

    return rule


class _Lane:
    """One source in `mix_sources`: its share, its items left, how many it placed."""

    __slots__ = ("order", "queue", "share", "taken")

    def __init__(self, share: float, order: int, queue: deque[Scored]) -> None:
        self.share, self.order, self.queue, self.taken = share, order, queue, 0

    def ties_above(self, other: _Lane) -> bool:
        """Equally behind: the larger share goes first, then the source earlier in SOURCES."""
        return (self.share, self.order) > (other.share, other.order)


def fit_weights(logged: Sequence[tuple[Mapping[str, float], float]]) -> RankWeights:
    """Optional: least-squares weights (and bias) from logged (features, observed watch ratio)
    pairs, to replace the hand-set blend once enough impressions are logged. Needs at least one
    more pair than there are features; collinear features get the minimum-norm solution."""
    if len(logged) <= len(FEATURES):
        raise ValueError(f"fit_weights: need more than {len(FEATURES)} logged pairs")
    x = np.array([[values[name] for name in FEATURES] + [1.0] for values, _ in logged])
    y = np.array([target for _, target in logged])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    names = [f.name for f in fields(RankWeights)]  # FEATURES, then bias
    return RankWeights(**{name: float(c) for name, c in zip(names, coef, strict=True)})


def _first_not_by(items: Sequence[Scored], creators: Collection[int]) -> int | None:
    for index, item in enumerate(items):
        if item.candidate.creator_id not in creators:
            return index
    return None


def _order(scored: Scored) -> tuple[float, int]:
    return -scored.score, scored.candidate.video_id
