"""Entities of the recommendation domain, no I/O: the real-time signals of a video and of a
creator as the ranker and exploration read them (`signals.py` keeps them in the cache).
(`model.py` is the two-tower network.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Smoothing priors: a video with a handful of views is pulled towards the platform's typical
# rates instead of ranking first on 2 completions out of 2 (Bayesian average, IMDb's top-250).
PRIOR_VIEWS = 20.0
PRIOR_COMPLETION = 0.35  # short-video completion rates cluster around a third
PRIOR_LIKE_RATE = 0.04


@dataclass(frozen=True, slots=True)
class VideoSignals:
    """What viewers did with one video lately: sums over the last 5 minutes and last hour."""

    video_id: int
    views_5m: int = 0
    views_1h: int = 0
    completions_1h: int = 0
    likes_1h: int = 0
    skips_1h: int = 0  # quick skips: left within the first seconds
    watch_ratio_sum_1h: float = 0.0  # sum of min(watched / duration, 2) over the hour's views

    @property
    def completion_rate(self) -> float:
        """Completions per view over the hour, smoothed towards the prior."""
        return (self.completions_1h + PRIOR_COMPLETION * PRIOR_VIEWS) / (
            self.views_1h + PRIOR_VIEWS
        )

    @property
    def like_rate(self) -> float:
        """Likes per view over the hour, smoothed towards the prior."""
        return (self.likes_1h + PRIOR_LIKE_RATE * PRIOR_VIEWS) / (self.views_1h + PRIOR_VIEWS)

    @property
    def mean_watch_ratio(self) -> float:
        """Mean of watched / duration over the hour, smoothed towards the completion prior."""
        return (self.watch_ratio_sum_1h + PRIOR_COMPLETION * PRIOR_VIEWS) / (
            self.views_1h + PRIOR_VIEWS
        )

    @property
    def velocity(self) -> float:
        """Views per minute in the last 5 minutes against the hour's rate (1 = steady,
        above 1 = taking off); 0 without views."""
        if self.views_1h == 0:
            return 0.0
        return (self.views_5m / 5.0) / (self.views_1h / 60.0)

    @property
    def trending(self) -> float:
        """A score for the trending list: engaged views in the last hour, weighted up by
        how fast they are coming now. Engaged = completions + 2 likes - skips (floor 0)."""
        engaged = max(0.0, self.completions_1h + 2.0 * self.likes_1h - self.skips_1h)
        return engaged * (1.0 + min(self.velocity, 5.0))


@dataclass(frozen=True, slots=True)
class CreatorSignals:
    """A creator's running record over all their videos (30 days in the cache)."""

    creator_id: int
    views: int = 0
    completions: int = 0
    likes: int = 0

    @property
    def quality(self) -> float:
        """Smoothed completion rate plus like rate: what a creator's next video may expect."""
        completion = (self.completions + PRIOR_COMPLETION * PRIOR_VIEWS) / (
            self.views + PRIOR_VIEWS
        )
        likes = (self.likes + PRIOR_LIKE_RATE * PRIOR_VIEWS) / (self.views + PRIOR_VIEWS)
        return completion + likes


class SignalsReader(Protocol):
    """Reads the signals the `recs.signals` consumer keeps (signals.Signals implements it)."""

    async def videos(self, video_ids: Sequence[int]) -> dict[int, VideoSignals]:
        """Each video's signals (zeros for a video nobody watched lately)."""
        ...

    async def creators(self, creator_ids: Sequence[int]) -> dict[int, CreatorSignals]:
        """Each creator's record (zeros for a new creator)."""
        ...
