"""The two-tower retrieval model (DESIGN.md §7): 64-d L2-normalised user and video vectors whose
dot product scores a video for a user.

User tower: hashed user id, completion-weighted mean of the last HISTORY watched videos (each
its id embedding plus its projected content), and context (hour, weekday, device, locale).
Video tower: hashed video id, projected content features, hashed creator, mean of hashed
hashtags. Ids are dropped at random in training (`id_dropout`), so the content-only vector of a
new video (`content_only=True`) lands near the videos that users watched like it.

Training loss: in-batch sampled softmax with logQ correction (Yi et al., RecSys 2019): popular
videos appear as negatives in many batches, so each logit is lowered by log(sampling
probability) to keep the model from just learning to demote popularity. Serving adds back a
share of popularity chosen on a validation split (`popularity_weight`, `popularity_offset`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flick.recs.data import Catalog, Sequences, hour_of, weekday_of
from flick.recs.features import FEATURE_DIM
from flick.recs.hashing import bucket

HISTORY = 50  # watched videos pooled per user: ~10 minutes of short videos
MAX_HISTORY_WEIGHT = 1.5  # a replay counts for more, a video left looping does not dominate
WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"
_SALT = {"user": 1, "video": 2, "creator": 3, "tag": 4, "device": 5, "locale": 6}


@dataclass(frozen=True)
class ModelConfig:
    """Shape and regularisation of the towers (saved beside every checkpoint)."""

    dim: int = 64  # output width: 64 floats per video keep 1M videos in 256 MB
    id_dim: int = 64
    hidden: int = 256
    context_dim: int = 8
    user_buckets: int = 2**18  # hashing trick: collisions stay rare below ~50k active ids
    video_buckets: int = 2**18
    creator_buckets: int = 2**16
    tag_buckets: int = 2**16
    devices: int = 16
    locales: int = 64
    history: int = HISTORY
    feature_dim: int = FEATURE_DIM
    id_dropout: float = 0.2  # share of examples trained with no video or user id
    temperature: float = 0.05
    logq: bool = True
    short_history: int = 0  # > 0: the last N watches pooled again, beside the long pooling
    recency_half_life: float = 0.0  # > 0: a watch this many places back counts half; 0: flat
    uniform_negatives: int = 0  # catalog videos drawn uniformly per batch, beside in-batch
    item_bias: bool = False  # a learned per-video score offset (id and content), see bias()
    popularity_weight: float = 0.0  # serving: + w T log(1 + positives), see popularity_offset
    text_encoder: str = "hashed-ngrams"  # features.text_embedder name the features came from

    def to_json(self) -> str:
        """The config as JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """A config read back from `to_json`."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class VideoInputs:
    """A batch of videos: raw ids, content features and hashtag ids (hashing.tag_ids)."""

    video_id: np.ndarray  # int64 [B]
    creator_id: np.ndarray  # int64 [B]
    features: np.ndarray  # float32 [B, FEATURE_DIM]
    tags: np.ndarray  # int64 [B, MAX_TAGS], 0 = none

    @classmethod
    def from_catalog(cls, catalog: Catalog, rows: np.ndarray) -> VideoInputs:
        """The videos at these catalog rows."""
        return cls(
            catalog.video_id[rows],
            catalog.creator_id[rows],
            catalog.features[rows],
            catalog.tags[rows],
        )


@dataclass(frozen=True)
class UserInputs:
    """A batch of users with their recent watches and the request's context.

    History features are given once per distinct video (`history_features`) and referenced
    by `history_row`, so a batch does not copy a video's features for every user who saw it.
    """

    user_id: np.ndarray  # int64 [B]
    history_video_id: np.ndarray  # int64 [B, N], oldest first
    history_weight: np.ndarray  # float32 [B, N]: watch ratio, 0 marks padding
    history_row: np.ndarray  # int64 [B, N] into history_features
    history_features: np.ndarray  # float32 [H, FEATURE_DIM]
    hour: np.ndarray  # int64 [B], 0..23
    weekday: np.ndarray  # int64 [B], 0..6
    device: np.ndarray  # int64 [B], any code; hashed
    locale: np.ndarray  # int64 [B], any code; hashed

    @classmethod
    def from_sequences(
        cls,
        seq: Sequences,
        catalog: Catalog,
        at: np.ndarray,
        *,
        length: int,
        context_at: np.ndarray | None = None,
    ) -> UserInputs:
        """Users at positions `at` of `seq`, history strictly before `at`; context from the
        interaction at `context_at` (default: `at` itself)."""
        rows, weights = seq.history(at, length)
        distinct, inverse = np.unique(rows, return_inverse=True)
        ctx = seq.log.take(at if context_at is None else context_at)
        return cls(
            user_id=seq.log.user_id[at],
            history_video_id=catalog.video_id[rows],
            history_weight=np.minimum(weights, MAX_HISTORY_WEIGHT),
            history_row=inverse.reshape(rows.shape),
            history_features=catalog.features[distinct],
            hour=ctx.hour(),
            weekday=ctx.weekday(),
            device=ctx.device,
            locale=ctx.locale,
        )

    @classmethod
    def for_requests(
        cls,
        seq: Sequences,
        catalog: Catalog,
        user_ids: np.ndarray,
        *,
        length: int,
        timestamp: np.ndarray,
        device: np.ndarray,
        locale: np.ndarray,
    ) -> UserInputs:
        """Users asking for a feed now: history is each one's latest interactions in `seq`."""
        rows, weights = seq.latest(user_ids, length)
        distinct, inverse = np.unique(rows, return_inverse=True)
        return cls(
            user_id=user_ids,
            history_video_id=catalog.video_id[rows],
            history_weight=np.minimum(weights, MAX_HISTORY_WEIGHT),
            history_row=inverse.reshape(rows.shape),
            history_features=catalog.features[distinct],
            hour=hour_of(timestamp),
            weekday=weekday_of(timestamp),
            device=device,
            locale=locale,
        )


class TwoTower(nn.Module):
    """User and video towers over hashed ids and content (see the module docstring)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.user_id = nn.Embedding(c.user_buckets, c.id_dim, sparse=True)
        self.video_id = nn.Embedding(c.video_buckets, c.id_dim, sparse=True)
        self.creator = nn.Embedding(c.creator_buckets, c.id_dim, sparse=True)
        self.tag = nn.Embedding(c.tag_buckets, c.id_dim, sparse=True, padding_idx=0)
        self.hour = nn.Embedding(24, c.context_dim)
        self.weekday = nn.Embedding(7, c.context_dim)
        self.device = nn.Embedding(c.devices, c.context_dim)
        self.locale = nn.Embedding(c.locales, c.context_dim)
        self.content = nn.Linear(c.feature_dim, c.id_dim)
        pooled = 2 if c.short_history > 0 else 1
        self.user_mlp = _mlp((1 + pooled) * c.id_dim + 4 * c.context_dim, c.hidden, c.dim)
        self.video_mlp = _mlp(4 * c.id_dim, c.hidden, c.dim)
        self.video_bias = nn.Embedding(c.video_buckets, 1, sparse=True) if c.item_bias else None
        self.content_bias = nn.Linear(c.feature_dim, 1) if c.item_bias else None
        for table in (self.user_id, self.video_id, self.creator, self.tag):
            nn.init.normal_(table.weight, std=0.05)
        if self.video_bias is not None:
            nn.init.zeros_(self.video_bias.weight)
        with torch.no_grad():
            self.tag.weight[0].zero_()

    def sparse_parameters(self) -> list[Tensor]:
        """The hashed id tables (sparse gradients)."""
        tables = [self.user_id, self.video_id, self.creator, self.tag, self.video_bias]
        return [table.weight for table in tables if table is not None]

    def dense_parameters(self) -> list[Tensor]:
        """Everything else."""
        sparse = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]

    def videos(self, inputs: VideoInputs, *, content_only: bool = False) -> Tensor:
        """L2-normalised video vectors [B, dim]; `content_only` leaves the id out (new videos)."""
        c = self.config
        ids = self.video_id(_bucket(inputs.video_id, c.video_buckets, "video"))
        keep = self._keep(len(inputs.video_id), content_only=content_only)
        parts = [
            ids * keep,
            self.content(torch.from_numpy(inputs.features)),
            self.creator(_bucket(inputs.creator_id, c.creator_buckets, "creator")),
            self._tags(inputs.tags),
        ]
        return F.normalize(self.video_mlp(torch.cat(parts, dim=1)), dim=1)

    def bias(self, inputs: VideoInputs, *, content_only: bool = False) -> Tensor:
        """Each video's learned score offset [B] (in logits, i.e. already over temperature);
        zeros without `item_bias`."""
        c = self.config
        if self.video_bias is None or self.content_bias is None:
            return torch.zeros(len(inputs.video_id))
        ids = self.video_bias(_bucket(inputs.video_id, c.video_buckets, "video"))
        keep = self._keep(len(inputs.video_id), content_only=content_only)
        content = self.content_bias(torch.from_numpy(inputs.features))
        return (ids * keep + content).squeeze(1)

    def users(self, inputs: UserInputs) -> Tensor:
        """L2-normalised user vectors [B, dim]."""
        c = self.config
        ids = self.user_id(_bucket(inputs.user_id, c.user_buckets, "user"))
        parts = [
            ids * self._keep(len(inputs.user_id), content_only=False),
            *self._history(inputs),
            self.hour(torch.from_numpy(inputs.hour % 24)),
            self.weekday(torch.from_numpy(inputs.weekday % 7)),
            self.device(_bucket(inputs.device, c.devices, "device")),
            self.locale(_bucket(inputs.locale, c.locales, "locale")),
        ]
        return F.normalize(self.user_mlp(torch.cat(parts, dim=1)), dim=1)

    def _history(self, inputs: UserInputs) -> list[Tensor]:
        """The weighted mean of the history items, and of the last `short_history` of them."""
        c = self.config
        ids = self.video_id(_bucket(inputs.history_video_id, c.video_buckets, "video"))
        content = self.content(torch.from_numpy(inputs.history_features))
        items = ids + content[torch.from_numpy(inputs.history_row)]
        weights = torch.from_numpy(inputs.history_weight).unsqueeze(-1)
        if c.recency_half_life > 0:  # the last column is the newest watch
            age = torch.arange(weights.shape[1] - 1, -1, -1, dtype=torch.float32)
            weights = weights * torch.exp2(-age / c.recency_half_life)[None, :, None]
        pooled = [_weighted_mean(items, weights)]
        if c.short_history > 0:
            last = c.short_history
            pooled.append(_weighted_mean(items[:, -last:], weights[:, -last:]))
        return pooled

    def _tags(self, tags: np.ndarray) -> Tensor:
        hashed = np.where(
            tags != 0,
            bucket(tags, self.config.tag_buckets, reserve_zero=True, salt=_SALT["tag"]),
            0,
        )
        index = torch.from_numpy(hashed)
        count = (index != 0).sum(dim=1, keepdim=True).clamp_min(1)
        return self.tag(index).sum(dim=1) / count

    def _keep(self, n: int, *, content_only: bool) -> Tensor:
        if content_only:
            return torch.zeros(n, 1)
        if not self.training or self.config.id_dropout <= 0:
            return torch.ones(n, 1)
        return (torch.rand(n, 1) >= self.config.id_dropout).float()


def sampled_softmax_loss(
    users: Tensor,
    videos: Tensor,
    *,
    video_keys: Tensor,
    log_q: Tensor | None,
    temperature: float,
    bias: Tensor | None = None,
) -> Tensor:
    """Sampled softmax: row i's positive is column i, every other column a negative.

    Columns are the batch's own videos (len(users) of them) then any extra negatives.
    `log_q` is log of each column's sampling probability (for in-batch videos their share of
    training positives); subtracting it corrects for popular videos being sampled as negatives
    more often. `bias` is a per-column logit offset (the model's learned item bias). A column
    showing row i's own video (equal `video_keys`) is not a negative of row i.
    """
    n = len(users)
    logits = users @ videos.T / temperature
    if bias is not None:
        logits = logits + bias[None, :]
    if log_q is not None:
        logits = logits - log_q[None, :]
    own = torch.zeros(logits.shape, dtype=torch.bool)
    own[:, :n] = torch.eye(n, dtype=torch.bool)
    duplicate = (video_keys[None, :] == video_keys[:n, None]) & ~own
    logits = logits.masked_fill(duplicate, float("-inf"))
    return F.cross_entropy(logits, torch.arange(n))


class ServingModel:
    """A checkpoint loaded for serving: embeddings under inference mode, as numpy float32."""

    def __init__(self, model: TwoTower, *, version: str = "") -> None:
        self.model = model.eval()
        self.config = model.config
        self.version = version

    @classmethod
    def load(cls, directory: Path) -> ServingModel:
        """Load a checkpoint directory (config.json and weights.pt)."""
        config = ModelConfig.from_json((directory / CONFIG_FILE).read_text())
        model = TwoTower(config)
        state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return cls(model, version=directory.name)

    def user_embeddings(self, inputs: UserInputs) -> np.ndarray:
        """[B, dim] float32 user vectors."""
        with torch.inference_mode():
            return self.model.users(inputs).numpy()

    def video_embeddings(self, inputs: VideoInputs, *, content_only: bool = False) -> np.ndarray:
        """[B, dim] float32 video vectors; `content_only` for a video the model never saw."""
        with torch.inference_mode():
            return self.model.videos(inputs, content_only=content_only).numpy()

    def popularity_offset(self, positives: np.ndarray) -> np.ndarray:
        """What serving adds to each video's dot product: popularity_weight x temperature x
        log(1 + its positives in the logs the model was trained on).

        Training subtracts log q from every logit (logQ correction), so the dot product learns
        taste with popularity taken out; this puts back the share of popularity that a
        validation split (evaluation.choose_popularity_weight) says helps. In an inner-product
        index the offset is one more dimension: [v, log(1 + positives)] against
        [u, popularity_weight x temperature].
        """
        c = self.config
        counts = np.asarray(positives, dtype=np.float64)
        return (c.popularity_weight * c.temperature * np.log1p(counts)).astype(np.float32)


def save_weights(model: TwoTower, directory: Path) -> None:
    """Write weights.pt and config.json into `directory`."""
    torch.save(model.state_dict(), directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(model.config.to_json())


def _bucket(values: np.ndarray, buckets: int, kind: str) -> Tensor:
    return torch.from_numpy(bucket(values, buckets, salt=_SALT[kind]))


def _weighted_mean(items: Tensor, weights: Tensor) -> Tensor:
    return (items * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-6)


def _mlp(width_in: int, hidden: int, width_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, hidden), nn.ReLU(), nn.Linear(hidden, width_out))
