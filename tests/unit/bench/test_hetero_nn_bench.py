"""`powerfl bench hetero-nn --mode simulated`: the encrypted mode's host view in one process, the figures the
settings searches in docs/security.md quote."""

from __future__ import annotations

import json

from airflow_provider_powerfl.cli import main


def _run(capsys, *flags: str) -> dict:
    assert main(["bench", "hetero-nn", "--dataset", "breast", "--mode", "simulated", "--seed", "1", *flags]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_simulated_without_defences_is_the_central_network_up_to_the_encoding(capsys):
    result = _run(capsys, "--defence", "none")
    assert result["mode"] == "simulated" and result["epochs"] == 10 and result["train_rows"] == 385
    assert abs(result["auc_difference"]) < 0.002 and result["centralized_auc"] > 0.98
    assert result["norm_attack_auc"] > 0.8  # clean gradients: the label shows in the norms


def test_simulated_with_equalized_norms_hides_them_and_reports_the_direction_attack(capsys):
    result = _run(capsys, "--equalize", "on")
    assert result["defences"]["equalize_norms"] is True
    assert result["norm_attack_auc"] < 0.6 and 0.0 <= result["direction_attack_auc"] <= 1.0
    assert result["federated_auc"] > 0.95
