"""What training and evaluation read: interaction logs and a video catalog, behind
`InteractionDataset`, so the simulator, MovieLens and (later) the platform's own watch logs are
interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from flick.recs.features import FEATURE_DIM

MAX_TAGS = 8  # hashtags per video the towers look at; captions rarely carry more that matter
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Interactions:
    """One row per impression or watch, any order; arrays of equal length."""

    user_id: np.ndarray  # int64
    video_id: np.ndarray  # int64
    timestamp: np.ndarray  # float64 unix seconds
    watch_ratio: np.ndarray  # float32, watched / duration: 0..1, above 1 with replays
    positive: np.ndarray  # bool: a high-completion watch or a like (what training predicts)
    device: np.ndarray  # int64 code, 0 unknown
    locale: np.ndarray  # int64 code, 0 unknown

    def __len__(self) -> int:
        return len(self.user_id)

    def take(self, rows: np.ndarray) -> Interactions:
        """The rows selected by an index or mask."""
        return Interactions(*(getattr(self, name)[rows] for name in _FIELDS))

    def hour(self) -> np.ndarray:
        """Hour of day (UTC), 0..23."""
        return hour_of(self.timestamp)

    def weekday(self) -> np.ndarray:
        """Day of week, 0 = Monday."""
        return weekday_of(self.timestamp)


_FIELDS = ("user_id", "video_id", "timestamp", "watch_ratio", "positive", "device", "locale")


@dataclass(frozen=True)
class Catalog:
    """Every video the model may score, with its content: row i describes video_id[i]."""

    video_id: np.ndarray  # int64, unique
    creator_id: np.ndarray  # int64
    features: np.ndarray  # float32 [n, FEATURE_DIM], features.content_features
    tags: np.ndarray  # int64 [n, MAX_TAGS], hashing.tag_ids, 0-padded

    def __post_init__(self) -> None:
        if self.features.shape[1:] != (FEATURE_DIM,):
            raise ValueError(f"features must be [n, {FEATURE_DIM}], not {self.features.shape}")

    def __len__(self) -> int:
        return len(self.video_id)

    def rows(self, video_ids: np.ndarray) -> np.ndarray:
        """Catalog row of each video id; raises KeyError for an unknown id."""
        order = np.argsort(self.video_id)
        pos = np.searchsorted(self.video_id, video_ids, sorter=order)
        pos = np.minimum(pos, len(order) - 1)
        found = order[pos]
        if not np.all(self.video_id[found] == video_ids):
            raise KeyError("interactions name videos that are not in the catalog")
        return found


class InteractionDataset(Protocol):
    """A source of training data: the simulator, MovieLens, or the platform's watch logs."""

    @property
    def name(self) -> str:
        """What the dataset is called in reports."""
        ...

    def interactions(self) -> Interactions:
        """Every logged interaction."""
        ...

    def catalog(self) -> Catalog:
        """Every video the interactions name, and more that may be recommended."""
        ...


@dataclass(frozen=True)
class StaticDataset:
    """A dataset held in memory (a split, a test fixture)."""

    name: str
    logged: Interactions
    videos: Catalog

    def interactions(self) -> Interactions:
        """Every logged interaction."""
        return self.logged

    def catalog(self) -> Catalog:
        """Every video that may be recommended."""
        return self.videos


@dataclass(frozen=True)
class Sequences:
    """Interactions sorted by (user, time), with each row's catalog row and its user's start."""

    log: Interactions
    rows: np.ndarray  # catalog row of each interaction
    start: np.ndarray  # index of the first interaction of the same user

    @classmethod
    def build(cls, log: Interactions, catalog: Catalog) -> Sequences:
        """Sort and index a log against a catalog."""
        order = np.lexsort((log.timestamp, log.user_id))
        log = log.take(order)
        first = np.r_[True, log.user_id[1:] != log.user_id[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(log)), 0))
        return cls(log=log, rows=catalog.rows(log.video_id), start=start)

    def history(self, at: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Catalog rows [len(at), length] of the interactions just before each `at` (same
        user, oldest first) and their pooling weights (watch ratio; 0 marks padding)."""
        return self.window(self.start[at], at, length)

    def latest(self, user_ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Like `history`, for each user's last `length` interactions (all padding if none)."""
        begin = np.searchsorted(self.log.user_id, user_ids, side="left")
        end = np.searchsorted(self.log.user_id, user_ids, side="right")
        return self.window(begin, end, length)

    def window(
        self, begin: np.ndarray, end: np.ndarray, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and weights of interactions [max(begin, end - length), end), left-padded."""
        index = end[:, None] - length + np.arange(length)[None, :]
        valid = index >= begin[:, None]
        safe = np.where(valid, index, 0)
        weights = np.where(valid, self.log.watch_ratio[safe], 0.0).astype(np.float32)
        return np.where(valid, self.rows[safe], 0), weights


def hour_of(timestamp: np.ndarray) -> np.ndarray:
    """Hour of day (UTC), 0..23."""
    return ((np.asarray(timestamp) % SECONDS_PER_DAY) // 3600).astype(np.int64)


def weekday_of(timestamp: np.ndarray) -> np.ndarray:
    """Day of week, 0 = Monday."""
    return ((np.asarray(timestamp) // SECONDS_PER_DAY + 3) % 7).astype(np.int64)  # 1970-01-01: Thu
