"""Chart series and confusion counts the metrics route derives from a report (flow_server.curves)."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.evaluation import evaluate_binary
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.plugins.flow_server.curves import confusion_at, curves

RNG = np.random.default_rng(3)
Y = RNG.integers(0, 2, 400)
SCORES = np.clip(Y * 0.3 + RNG.random(400) * 0.7, 0, 1)


def test_ks_and_pr_follow_from_the_roc_points_and_the_class_counts():
    metrics = evaluate_binary(Y, SCORES, loss_history=[0.7, 0.6, 0.55])
    out = curves(metrics)
    assert len(out["roc"]) == len(metrics["roc_curve"]["fpr"])
    assert max(p["gap"] for p in out["ks"]) == pytest.approx(metrics["ks"])
    assert out["ks"][-1]["population"] == pytest.approx(1.0)
    assert out["pr"][-1] == {"recall": 1.0, "precision": pytest.approx(Y.mean())}
    assert out["gain"][-1]["gain"] == pytest.approx(1.0) and out["lift"][-1]["lift"] == pytest.approx(1.0)
    assert out["loss"] == [{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": 0.6}, {"epoch": 3, "loss": 0.55}]


def test_a_report_without_binary_curves_gives_empty_series():
    assert curves({"task": "regression", "rmse": 1.0}) == {"roc": [], "ks": [], "pr": [], "lift": [], "gain": [], "loss": []}


def test_the_confusion_at_a_threshold_counts_the_predictions_file(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("id,probability,label\na,0.9,1\nb,0.4,1\nc,0.35,0\nd,0.1,0\n")
    assert confusion_at(path, 0.3) == {"threshold": 0.3, "tp": 2, "fp": 1, "tn": 1, "fn": 0, "accuracy": 0.75,
                                       "precision": pytest.approx(2 / 3), "recall": 1.0, "f1": 0.8}  # fmt: skip
    with pytest.raises(ConfigError, match="threshold"):
        confusion_at(path, 1.5)
    (tmp_path / "multi.csv").write_text("id,prediction\na,1\n")
    with pytest.raises(ConfigError, match="no probability and label"):
        confusion_at(tmp_path / "multi.csv", 0.5)
