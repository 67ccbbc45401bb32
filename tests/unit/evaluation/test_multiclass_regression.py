from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from airflow_provider_powerfl.evaluation import evaluate_multiclass, evaluate_regression
from airflow_provider_powerfl.exceptions import ConfigError, DataError


def _proba(seed: int, n: int = 300, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def test_multiclass_scores_match_scikit_learn() -> None:
    y, p = _proba(0)
    m = evaluate_multiclass(y, p)
    pred = p.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        pr, rc, f1, _ = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert (m[f"{avg}_precision"], m[f"{avg}_recall"], m[f"{avg}_f1"]) == pytest.approx((pr, rc, f1))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert m["auc_ovr_macro"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    json.dumps(m, allow_nan=False)


def test_multiclass_string_labels_from_predictions() -> None:
    y = ["cat", "dog", "cat", "bird", "dog", "dog"]
    pred = ["cat", "dog", "dog", "bird", "cat", "dog"]
    m = evaluate_multiclass(y, pred)
    assert m["labels"] == ["bird", "cat", "dog"]
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=["bird", "cat", "dog"]).tolist()
    _, rc, _, sup = skm.precision_recall_fscore_support(y, pred, labels=["bird", "cat", "dog"], zero_division=0)
    assert [r["recall"] for r in m["per_class"]] == pytest.approx(rc)
    assert [r["support"] for r in m["per_class"]] == sup.tolist()
    assert "auc_ovr_macro" not in m


def test_multiclass_absent_class_has_no_auc() -> None:
    y, p = _proba(1, k=3)
    y[y == 2] = 0
    m = evaluate_multiclass(y, p, labels=[0, 1, 2])
    assert m["auc_ovr_macro"] is None and m["per_class"][2]["auc_ovr"] is None


def test_multiclass_errors() -> None:
    y, p = _proba(2, k=3)
    with pytest.raises(ConfigError, match="labels: y_score has 3 columns but y_true holds 2"):
        evaluate_multiclass(np.where(y == 2, 0, y), p)
    with pytest.raises(DataError, match="y_true: label 7 is not one of"):
        evaluate_multiclass([0, 7], [[0.5, 0.5], [0.2, 0.8]], labels=[0, 1])
    with pytest.raises(DataError, match="y_true has 3 values but y_score has 2"):
        evaluate_multiclass([0, 1, 1], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(DataError, match="y_score: .*NaN"):
        evaluate_multiclass([0, 1], [[0.5, np.nan], [0.2, 0.8]])
    with pytest.raises(DataError, match="y_true: empty"):
        evaluate_multiclass([], [])


def test_regression_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.3, size=200)
    m = evaluate_regression(y, pred, loss_history=[1.0, 0.4])
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["median_ae"] == pytest.approx(skm.median_absolute_error(y, pred))
    assert m["max_error"] == pytest.approx(skm.max_error(y, pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert m["explained_variance"] == pytest.approx(skm.explained_variance_score(y, pred))
    assert m["loss"]["min_epoch"] == 2
    json.dumps(m, allow_nan=False)


def test_regression_constant_target_and_errors() -> None:
    m = evaluate_regression([1.0, 1.0], [1.0, 2.0])
    assert (m["r2"], m["explained_variance"], m["mse"]) == (None, None, 0.5)
    with pytest.raises(DataError, match="y_pred: .*NaN"):
        evaluate_regression([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(DataError, match="y_true has 1 values but y_pred has 2"):
        evaluate_regression([1.0], [1.0, 2.0])
