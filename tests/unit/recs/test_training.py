from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from flick.recs.data import StaticDataset
from flick.recs.evaluation import (
    POPULARITY_GRID,
    choose_popularity_weight,
    evaluate,
    recall_at_k,
    temporal_split,
    top_k,
    two_tower_scores,
    users_under_test,
)
from flick.recs.model import ServingModel, TwoTower
from flick.recs.training import (
    LATEST,
    CheckpointWatcher,
    TrainConfig,
    latest_checkpoint,
    train,
    write_checkpoint,
)
from tests.unit.recs.conftest import TINY_MODEL

QUICK = TrainConfig(epochs=4, batch_size=128, threads=1)


def test_training_beats_an_untrained_model(tiny_dataset: StaticDataset) -> None:
    catalog = tiny_dataset.catalog()
    split = temporal_split(tiny_dataset.interactions())
    users = users_under_test(split, catalog)
    train_part = StaticDataset("train", split.train, catalog)
    trained = train(train_part, QUICK, model_config=TINY_MODEL)
    recalls = []
    for model in (TwoTower(TINY_MODEL).eval(), trained.model):
        scores = two_tower_scores(ServingModel(model), split.train, catalog, users)
        recalls.append(recall_at_k(top_k(scores, users.seen), users.relevant))
    assert recalls[1] > 2 * recalls[0]
    losses = trained.metrics["loss"]
    assert losses[-1] < losses[0]
    assert trained.metrics["examples_per_s"] > 0


def test_checkpoints_are_versioned_and_hot_reloaded(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    watcher = CheckpointWatcher(tmp_path)
    assert watcher.current is None and not watcher.maybe_reload()
    first = write_checkpoint(TwoTower(TINY_MODEL), tmp_path, metrics={"loss": [1.0]})
    assert first.name == "v0001" and (first / "metrics.json").exists()
    assert watcher.maybe_reload() and watcher.current is not None
    assert watcher.current.version == "v0001"
    assert not watcher.maybe_reload()  # nothing new
    newer = TwoTower(TINY_MODEL)
    second = write_checkpoint(newer, tmp_path, metrics={})
    assert second.name == "v0002" and (tmp_path / LATEST).read_text().strip() == "v0002"
    assert watcher.maybe_reload() and watcher.current.version == "v0002"
    weights = watcher.current.model.video_id.weight.detach().numpy()
    assert np.array_equal(weights, newer.video_id.weight.detach().numpy())
    assert sorted(p.name for p in tmp_path.iterdir()) == [LATEST, "v0001", "v0002"]


def test_train_writes_a_checkpoint_with_its_metrics(
    tiny_dataset: StaticDataset, tmp_path: Path
) -> None:
    result = train(
        tiny_dataset,
        TrainConfig(epochs=1, threads=1),
        model_config=TINY_MODEL,
        checkpoint_dir=tmp_path,
    )
    assert result.checkpoint == latest_checkpoint(tmp_path) == tmp_path / "v0001"
    loaded = ServingModel.load(result.checkpoint)
    assert loaded.config == TINY_MODEL


def test_evaluate_reports_every_method(tiny_dataset: StaticDataset) -> None:
    evaluation = evaluate(
        tiny_dataset,
        train_config=TrainConfig(epochs=1, threads=1),
        model_config=TINY_MODEL,
        max_users=50,
    )
    scores = evaluation.scores
    assert evaluation.popularity_weight in evaluation.validation
    assert set(scores) == {"two_tower", "popularity", "item_knn"}
    for figures in scores.values():
        assert set(figures) == {"recall@20", "ndcg@20"}
        assert all(0.0 <= value <= 1.0 for value in figures.values())


def test_mixed_negatives_and_item_bias_train(tiny_dataset: StaticDataset) -> None:
    config = replace(TINY_MODEL, uniform_negatives=64, item_bias=True)
    result = train(tiny_dataset, replace(QUICK, epochs=2), model_config=config)
    losses = result.metrics["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_the_popularity_weight_is_chosen_on_a_validation_split(
    tiny_dataset: StaticDataset,
) -> None:
    weight, table = choose_popularity_weight(
        tiny_dataset, train_config=replace(QUICK, epochs=1), model_config=TINY_MODEL
    )
    assert set(table) == set(POPULARITY_GRID) and weight in table
    assert table[weight]["ndcg@20"] == max(figures["ndcg@20"] for figures in table.values())
