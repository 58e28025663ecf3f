from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from flick.recs.cli import recs, train
from flick.recs.evaluation import POPULARITY_GRID
from flick.recs.model import ModelConfig


def test_eval_json_shape_on_a_quick_run() -> None:
    result = CliRunner().invoke(
        recs, ["eval", "--json", "--quick", "--max-users", "60", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert set(scores) == {"movielens-100k", "simulated"}
    for methods in scores.values():
        assert set(methods) == {"two_tower", "popularity", "item_knn"}
        for figures in methods.values():
            assert set(figures) == {"recall@20", "ndcg@20"}
            assert all(isinstance(value, float) for value in figures.values())


def test_train_chooses_the_popularity_weight_and_writes_a_checkpoint(tmp_path: Path) -> None:
    arguments = ["--source", "simulated", "--checkpoints", str(tmp_path), "--text", "hashed-ngrams"]
    arguments += ["--users", "150"]
    arguments += ["--videos", "300", "--epochs", "1", "--threads", "1"]
    result = CliRunner().invoke(train, arguments)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "v0001" / "config.json").read_text())
    assert config["popularity_weight"] in POPULARITY_GRID
    assert config["recency_half_life"] == ModelConfig().recency_half_life


def test_training_on_an_instance_without_watches_says_what_to_do(tmp_path: Path) -> None:
    from flick.cli import main

    env = {"FLICK_DATA_DIR": str(tmp_path)}
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0
    result = CliRunner().invoke(train, ["--text", "hashed-ngrams"], env=env)
    assert result.exit_code == 1
    assert "no watches recorded yet" in result.output
    assert "--source simulated" in result.output
