"""A synthetic world to train and test the recommender on: users with tastes, creators, videos
and a watch model that says how much of a video a user watches.

Users have a taste over topics (sparse), a locale, a device and an active hour. Creators have
a topic mix, a quality and a locale. Videos inherit a topic vector from their creator, and
caption words and hashtags from their topics. The watch ratio (watched / duration; above 1 is a
replay) rises with the taste-topic match and creator quality, and falls for another locale,
long videos on phones, and hours far from the user's active hour. Everything follows from
`WorldConfig.seed`.

The logs come from a legacy feed that mixes random, quality-weighted and (noisily) taste-based
picks, as a platform's early logs do. `mean_watch_ratio` scores a policy on feed requests after
the logged period with the noise-free watch model, so two policies compare on the same sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flick.recs.data import MAX_TAGS, Catalog, Interactions, StaticDataset, hour_of
from flick.recs.features import TextEmbedder, VideoContent, content_features_batch
from flick.recs.hashing import tag_ids

TOPICS = (
    "cooking",
    "dance",
    "comedy",
    "pets",
    "fitness",
    "travel",
    "gaming",
    "music",
    "fashion",
    "science",
    "diy",
    "cars",
    "football",
    "art",
    "makeup",
    "books",
    "garden",
    "tech",
    "history",
    "movies",
    "kids",
    "finance",
    "nature",
    "skate",
)
DEVICES = ("ios", "android", "tablet")  # codes 1, 2, 3: 0 is "unknown" in the logs
PHONES = (1, 2)
EPOCH = 1_767_571_200  # 2026-01-05 00:00 UTC, a Monday: day 0 of the logs
SECONDS_PER_DAY = 86_400
SECONDS_PER_VIEW = 20  # a short video and a swipe
POSITIVE_RATIO = 0.8  # a watch counts as positive from 80% completion (or a like)
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "be", "do", "fa", "gu", "pi", "zo")


@dataclass(frozen=True)
class WorldConfig:
    """Size and seed of a world."""

    users: int = 3000
    creators: int = 300
    videos: int = 6000
    topics: int = 24
    locales: int = 4
    days: int = 14
    sessions_per_user: int = 8
    feed_size: int = 10  # videos per logged session
    seed: int = 7


@dataclass(frozen=True)
class Requests:
    """Feed requests: who asks, when, from which device and locale."""

    user_id: np.ndarray
    timestamp: np.ndarray
    device: np.ndarray
    locale: np.ndarray


Policy = Callable[[Requests, int], np.ndarray]  # (requests, k) -> video ids [len, k]


class World:
    """A generated world; every array is indexed by id - 1 (ids start at 1)."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = c = config
        rng = np.random.default_rng(c.seed)
        self.user_taste = _unit(rng.dirichlet(np.full(c.topics, 0.15), c.users))
        self.user_locale = rng.integers(1, c.locales + 1, c.users)
        self.user_device = rng.choice(np.arange(1, len(DEVICES) + 1), c.users, p=[0.45, 0.45, 0.1])
        self.user_hour = rng.choice(np.arange(24), c.users, p=_active_hours())
        self.creator_topics = rng.dirichlet(np.full(c.topics, 0.2), c.creators)
        self.creator_quality = rng.beta(2.0, 2.0, c.creators)
        self.creator_locale = rng.integers(1, c.locales + 1, c.creators)
        self.video_creator = rng.integers(0, c.creators, c.videos)
        mix = self.creator_topics[self.video_creator] * 20 + 0.05
        self.video_topics = _unit(np.stack([rng.dirichlet(row) for row in mix]))
        self.video_duration = np.clip(rng.lognormal(np.log(20), 0.7, c.videos), 3, 600)
        self.vocabulary = [_words(rng, 12) for _ in range(c.topics)]
        self.captions, self.hashtags = self._texts(rng)

    @property
    def user_ids(self) -> np.ndarray:
        """Every user id."""
        return np.arange(1, self.config.users + 1)

    @property
    def video_ids(self) -> np.ndarray:
        """Every video id."""
        return np.arange(1, self.config.videos + 1)

    def _texts(self, rng: np.random.Generator) -> tuple[list[str], list[tuple[str, ...]]]:
        captions, hashtags = [], []
        names = [
            TOPICS[t % len(TOPICS)] + (str(t // len(TOPICS)) if t >= len(TOPICS) else "")
            for t in range(self.config.topics)
        ]
        for topics in self.video_topics**2:
            drawn = rng.choice(len(topics), 5, p=topics / topics.sum())
            words = [str(rng.choice(self.vocabulary[t])) for t in drawn]
            captions.append(" ".join([*words, *_words(rng, 2)]))
            hashtags.append(tuple(dict.fromkeys(f"#{names[t]}" for t in drawn[:3])))
        return captions, hashtags

    def expected_watch_ratio(
        self, user_id: np.ndarray, video_id: np.ndarray, timestamp: np.ndarray
    ) -> np.ndarray:
        """The noise-free watch ratio of each (user, video, time), any broadcastable shapes."""
        u, v = np.asarray(user_id) - 1, np.asarray(video_id) - 1
        creator = self.video_creator[v]
        match = np.einsum("...t,...t->...", self.user_taste[u], self.video_topics[v])
        same_locale = self.user_locale[u] == self.creator_locale[creator]
        length = np.log(self.video_duration[v] / 20.0)
        on_phone = np.isin(self.user_device[u], PHONES)
        device = np.where(on_phone, -0.6 * np.maximum(length, 0), 0.3 * length)
        offset = np.abs(hour_of(timestamp) - self.user_hour[u])
        hours_away = np.minimum(offset, 24 - offset)
        logit = (
            6.0 * (match - 0.45)
            + 2.0 * (self.creator_quality[creator] - 0.5)
            + np.where(same_locale, 0.5, -1.0)
            + device
            - 0.12 * hours_away
        )
        base = 1.0 / (1.0 + np.exp(-logit))
        return base * (1.0 + 0.6 * base**6)  # the best videos get replayed

    def watch(
        self,
        rng: np.random.Generator,
        user_id: np.ndarray,
        video_id: np.ndarray,
        timestamp: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Observed watch ratios (log-normal noise around the expectation) and likes."""
        expected = self.expected_watch_ratio(user_id, video_id, timestamp)
        ratio = np.clip(expected * rng.lognormal(0.0, 0.35, expected.shape), 0.0, 3.0)
        skipped = rng.random(expected.shape) < 0.1 * (1 - expected)  # swiped on the first frame
        ratio = np.where(skipped, ratio * 0.05, ratio)
        liked = rng.random(expected.shape) < 0.5 / (1 + np.exp(-10 * (ratio - 1.0)))
        return ratio.astype(np.float32), liked

    def logs(self) -> Interactions:
        """The legacy feed's sessions over `days`, each shown video with its watch."""
        c = self.config
        rng = np.random.default_rng(c.seed + 1)
        users = np.repeat(self.user_ids, c.sessions_per_user)
        starts = self._session_times(rng, users, day_from=0, days=c.days)
        videos = self._legacy_feed(rng, users)
        times = starts[:, None] + SECONDS_PER_VIEW * np.arange(c.feed_size)[None, :]
        users = np.repeat(users[:, None], c.feed_size, axis=1)
        ratio, liked = self.watch(rng, users, videos, times)
        return Interactions(
            user_id=users.ravel(),
            video_id=videos.ravel(),
            timestamp=times.ravel().astype(float),
            watch_ratio=ratio.ravel(),
            positive=(ratio >= POSITIVE_RATIO).ravel() | liked.ravel(),
            device=self.user_device[users.ravel() - 1],
            locale=self.user_locale[users.ravel() - 1],
        )

    def _session_times(
        self, rng: np.random.Generator, users: np.ndarray, *, day_from: int, days: int
    ) -> np.ndarray:
        day = rng.integers(day_from, day_from + days, len(users))
        hour = (self.user_hour[users - 1] + np.rint(rng.normal(0, 2.5, len(users)))) % 24
        minute = rng.integers(0, 50, len(users))
        return EPOCH + day * SECONDS_PER_DAY + hour * 3600 + minute * 60

    def _legacy_feed(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """Per session: 40% random, 30% by creator quality, 30% by a noisy view of taste."""
        c = self.config
        n_random, n_quality = (4 * c.feed_size) // 10, (3 * c.feed_size) // 10
        n_taste = c.feed_size - n_random - n_quality
        quality = self.creator_quality[self.video_creator] ** 2
        picks = [
            rng.integers(1, c.videos + 1, (len(users), n_random)),
            rng.choice(self.video_ids, (len(users), n_quality), p=quality / quality.sum()),
        ]
        noisy = _unit(self.user_taste + rng.normal(0, 0.15, self.user_taste.shape))
        taste = np.empty((len(users), n_taste), dtype=np.int64)
        for row, user in enumerate(users):
            gumbel = rng.gumbel(size=c.videos)  # Gumbel top-k: sampling without replacement
            scores = 8.0 * (self.video_topics @ noisy[user - 1]) + gumbel
            taste[row] = np.argpartition(-scores, n_taste)[:n_taste] + 1
        return np.hstack([*picks, taste])

    def catalog(self, *, text: TextEmbedder | None = None) -> Catalog:
        """Every video with its content features."""
        contents = [
            VideoContent(
                caption=caption,
                hashtags=tags,
                duration_s=float(duration),
                creator_id=int(creator) + 1,
            )
            for caption, tags, duration, creator in zip(
                self.captions, self.hashtags, self.video_duration, self.video_creator, strict=True
            )
        ]
        return Catalog(
            video_id=self.video_ids,
            creator_id=self.video_creator.astype(np.int64) + 1,
            features=content_features_batch(contents, text=text),
            tags=np.stack([tag_ids(tags, width=MAX_TAGS) for tags in self.hashtags]),
        )

    def dataset(self, *, text: TextEmbedder | None = None) -> StaticDataset:
        """The logs and catalog as a training dataset named "simulated"."""
        return StaticDataset("simulated", self.logs(), self.catalog(text=text))

    def requests(self, count: int, *, seed: int = 0) -> Requests:
        """`count` feed requests on the day after the logs, from random users."""
        rng = np.random.default_rng(self.config.seed + 1000 + seed)
        users = rng.choice(self.user_ids, count, replace=count > self.config.users)
        times = self._session_times(rng, users, day_from=self.config.days, days=1)
        return Requests(
            users, times.astype(float), self.user_device[users - 1], self.user_locale[users - 1]
        )

    def mean_watch_ratio(self, policy: Policy, requests: Requests, *, k: int = 10) -> float:
        """Mean expected watch ratio over every video of every feed the policy returns."""
        feeds = policy(requests, k)
        expected = self.expected_watch_ratio(
            requests.user_id[:, None], feeds, requests.timestamp[:, None]
        )
        return float(expected.mean())

    def stats(self, log: Interactions) -> dict[str, float]:
        """What a world's logs look like."""
        return {
            "users": float(self.config.users),
            "creators": float(self.config.creators),
            "videos": float(self.config.videos),
            "interactions": float(len(log)),
            "positive_share": float(log.positive.mean()),
            "mean_watch_ratio": float(log.watch_ratio.mean()),
            "completion_share": float((log.watch_ratio >= 1.0).mean()),
        }


def _active_hours() -> np.ndarray:
    """Most users are active in the evening, some at lunch, few at night."""
    hours = np.arange(24)
    weight = 0.2 + np.exp(-((hours - 20) ** 2) / 8) + 0.5 * np.exp(-((hours - 12.5) ** 2) / 4)
    return weight / weight.sum()


def _words(rng: np.random.Generator, count: int) -> list[str]:
    return ["".join(rng.choice(SYLLABLES, rng.integers(2, 4))) for _ in range(count)]


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)
