"""`powerfl bench attack` on a small slice ends with one JSON line carrying the figures docs/security.md quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_powerfl.cli import main

pytestmark = pytest.mark.skipif(
    not Path("/work/shared/datasets/fate/default_credit_hetero_guest.csv").exists(), reason="needs FATE's default_credit"
)


def test_attack_bench_prints_a_final_json_line_with_the_figures(capsys):
    argv = ["bench", "attack", "--algorithm", "hetero-lr", "--dataset", "default_credit", "--setting", "leaky",
            "--rows", "600", "--epochs", "2"]  # fmt: skip
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    for field in ("attack_auc", "federated_auc", "centralized_auc", "seconds", "setting", "attacks", "raw_attack_auc"):
        assert field in result, field
    assert result["setting"] == "leaky" and result["train_rows"] == 600
    assert 0.0 <= result["attack_auc"] <= 1.0 and 0.5 < result["centralized_auc"] < 1.0
    assert set(result["attacks"]) == {"first_batch", "rare_value", "projection", "sign", "norm"}
    assert result["defences"] == {"init_scale": 0.0, "min_support": 1, "epsilon": None, "delta": 1e-5}


def test_simulated_attack_takes_lr_params_and_prints_the_same_figures(capsys):
    argv = ["bench", "attack", "--dataset", "default_credit", "--simulate", "--seed", "3",
            "--lr-params", '{"optimizer": "sgd", "learning_rate": 0.5, "max_iter": 2, "batch_size": 4096, "average": 0.5}']  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["simulated"] and result["lr_params"]["average"] == 0.5 and result["seed"] == 3
    assert 0.0 <= result["attack_auc"] <= 1.0 and abs(result["auc_difference"]) < 0.05
    assert set(result["attacks"]) == {"first_batch", "rare_value", "projection", "sign", "norm"}
