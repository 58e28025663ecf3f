"""Training the two towers, versioned checkpoints, and hot reload for serving.

Checkpoints live in one directory: `v0001/`, `v0002/`, ... each with weights.pt, config.json
and metrics.json, and a `latest` file naming the newest complete version. A version directory
is written under a temporary name and renamed, and `latest` is replaced atomically, so a reader
never sees half a checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flick.recs.data import Catalog, InteractionDataset, Sequences
from flick.recs.model import (
    ModelConfig,
    ServingModel,
    TwoTower,
    UserInputs,
    VideoInputs,
    sampled_softmax_loss,
    save_weights,
)

LATEST = "latest"
METRICS_FILE = "metrics.json"
VERSION = re.compile(r"^v(\d{4,})$")
EMBED_BATCH = 4096  # videos per forward pass when embedding a catalog


@dataclass(frozen=True)
class TrainConfig:
    """How long and how fast to train."""

    epochs: int = 10  # 6 or 15 did worse on validation (docs/recommendation.md)
    batch_size: int = 512  # in-batch negatives: more is a better softmax estimate, but slower
    lr: float = 3e-3
    sparse_lr: float = 3e-3  # id tables: 1e-2 overfit MovieLens (-0.004 NDCG@20)
    weight_decay: float = 1e-5
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default (all cores)
    seed: int = 0


@dataclass(frozen=True)
class Progress:
    """One training step done."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float


@dataclass
class TrainResult:
    """The trained model, where its checkpoint went (if anywhere) and what training measured."""

    model: TwoTower
    checkpoint: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)


def train(
    dataset: InteractionDataset,
    config: TrainConfig | None = None,
    *,
    model_config: ModelConfig | None = None,
    checkpoint_dir: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train on every positive of `dataset` (history: the interactions before it) and, given a
    `checkpoint_dir`, write the next version there."""
    config = config or TrainConfig()
    model_config = model_config or ModelConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    catalog = dataset.catalog()
    seq = Sequences.build(dataset.interactions(), catalog)
    examples = np.flatnonzero(seq.log.positive)
    if len(examples) < 2:
        raise ValueError(f"{dataset.name} has {len(examples)} positives; training needs 2")
    model = TwoTower(model_config).train()
    log_q = _log_q(seq.rows[examples], len(catalog)) if model_config.logq else None
    started, losses = time.perf_counter(), []
    for epoch in range(config.epochs):
        losses.append(_epoch(model, seq, catalog, examples, log_q, config, epoch, progress))
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "examples": float(len(examples)),
        "epochs": float(config.epochs),
        "seconds": seconds,
        "examples_per_s": len(examples) * config.epochs / seconds,
        "loss": losses,
        "threads": torch.get_num_threads(),
        "train_config": asdict(config),
    }
    model.eval()
    saved = write_checkpoint(model, checkpoint_dir, metrics=metrics) if checkpoint_dir else None
    return TrainResult(model=model, checkpoint=saved, metrics=metrics)


def _epoch(
    model: TwoTower,
    seq: Sequences,
    catalog: Catalog,
    examples: np.ndarray,
    log_q: torch.Tensor | None,
    config: TrainConfig,
    epoch: int,
    progress: Callable[[Progress], None] | None,
) -> float:
    """One pass over the shuffled positives; the mean loss."""
    sparse = torch.optim.SparseAdam(model.sparse_parameters(), lr=config.sparse_lr)
    dense = torch.optim.AdamW(
        model.dense_parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng(config.seed + epoch)
    order = rng.permutation(examples)
    steps = max(1, len(order) // config.batch_size)  # a ragged last batch is a weak softmax
    total = 0.0
    for step in range(steps):
        at = order[step * config.batch_size : (step + 1) * config.batch_size]
        loss = _step(model, seq, catalog, at, log_q, rng)
        for optimiser in (sparse, dense):
            optimiser.zero_grad()
        loss.backward()
        sparse.step()
        dense.step()
        total += float(loss.detach())
        if progress:
            progress(Progress(epoch + 1, config.epochs, step + 1, steps, total / (step + 1)))
    return total / steps


def _step(
    model: TwoTower,
    seq: Sequences,
    catalog: Catalog,
    at: np.ndarray,
    log_q: torch.Tensor | None,
    rng: np.random.Generator,
) -> torch.Tensor:
    """The loss of one batch: in-batch negatives, plus `uniform_negatives` catalog videos.

    With mixed negatives a video's expected count among a batch's columns is B * q + M / N
    (q: its share of the positives; M uniform draws from N videos); its log is the correction.
    """
    c = model.config
    rows = seq.rows[at]
    if c.uniform_negatives > 0:
        rows = np.concatenate([rows, rng.integers(0, len(catalog), c.uniform_negatives)])
    users = model.users(UserInputs.from_sequences(seq, catalog, at, length=c.history))
    inputs = VideoInputs.from_catalog(catalog, rows)
    videos = model.videos(inputs)
    keys = torch.from_numpy(rows)
    correction = None
    if log_q is not None:
        correction = log_q[keys]
        if c.uniform_negatives > 0:
            expected = len(at) * correction.exp() + c.uniform_negatives / len(catalog)
            correction = expected.log()
    return sampled_softmax_loss(
        users,
        videos,
        video_keys=keys,
        log_q=correction,
        temperature=c.temperature,
        bias=model.bias(inputs) if c.item_bias else None,
    )


def _log_q(rows: np.ndarray, size: int) -> torch.Tensor:
    """log of each catalog row's share of the positives (add-one smoothed)."""
    counts = np.bincount(rows, minlength=size).astype(np.float64) + 1.0
    return torch.from_numpy(np.log(counts / counts.sum()).astype(np.float32))


def embed_catalog(
    serving: ServingModel, catalog: Catalog, *, content_only: bool = False
) -> np.ndarray:
    """Every catalog video's vector [len(catalog), dim], in catalog order."""
    parts = [
        serving.video_embeddings(
            VideoInputs.from_catalog(
                catalog, np.arange(start, min(start + EMBED_BATCH, len(catalog)))
            ),
            content_only=content_only,
        )
        for start in range(0, len(catalog), EMBED_BATCH)
    ]
    return np.vstack(parts) if parts else np.zeros((0, serving.config.dim), np.float32)


def write_checkpoint(model: TwoTower, directory: Path, *, metrics: dict[str, Any]) -> Path:
    """Write the next version `vNNNN` and point `latest` at it; the version's path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"v{_last_version(directory) + 1:04d}"
    staging = directory / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    save_weights(model, staging)
    (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    staging.rename(directory / name)
    _write_atomically(directory / LATEST, name + "\n")
    return directory / name


def latest_checkpoint(directory: Path) -> Path | None:
    """The version `latest` names, or None before the first checkpoint."""
    try:
        name = (directory / LATEST).read_text().strip()
    except FileNotFoundError:
        return None
    return directory / name if name else None


def _last_version(directory: Path) -> int:
    numbers = [int(m.group(1)) for p in directory.iterdir() if (m := VERSION.match(p.name))]
    return max(numbers, default=0)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class CheckpointWatcher:
    """Serving's handle on the newest checkpoint: poll `maybe_reload()` (e.g. once a minute)
    and read `current`; a new version is loaded beside the old one, then swapped in."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: ServingModel | None = None
        self.maybe_reload()

    def maybe_reload(self) -> bool:
        """Load the version `latest` names if it is not the one held; whether it changed."""
        path = latest_checkpoint(self.directory)
        if path is None or (self.current and self.current.version == path.name):
            return False
        self.current = ServingModel.load(path)
        return True
