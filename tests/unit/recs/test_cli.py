from __future__ import annotations

import json

from click.testing import CliRunner

from flick.recs.cli import recs


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
