from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn import metrics as skm

from airflow_provider_powerfl.evaluation import evaluate_binary, lr_feature_importance
from airflow_provider_powerfl.exceptions import ConfigError, DataError


def _data(seed: int, n: int = 400, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.5)))
    if ties:  # tree-like scores: few distinct values
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("seed,ties", [(0, False), (1, False), (2, True), (3, True)])
def test_metrics_match_scikit_learn(seed: int, ties: bool) -> None:
    y, s = _data(seed, ties=ties)
    m = evaluate_binary(y, s, threshold=0.5)
    pred = (s >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    cm = m["confusion_matrix"]
    assert (cm["tn"], cm["fp"], cm["fn"], cm["tp"]) == (tn, fp, fn, tp)
    assert cm["matrix"] == skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    assert (m["n"], m["positives"]) == (len(y), int(y.sum()))
    json.dumps(m, allow_nan=False)  # strict JSON


@pytest.mark.parametrize("seed,ties", [(0, False), (4, True)])
def test_ks_matches_scipy_and_roc(seed: int, ties: bool) -> None:
    y, s = _data(seed, ties=ties)
    m = evaluate_binary(y, s)
    # D+ = max(F_neg - F_pos) = max(TPR - FPR)
    assert m["ks"] == pytest.approx(ks_2samp(s[y == 0], s[y == 1], alternative="greater").statistic)
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    assert m["ks"] == pytest.approx(np.max(tpr - fpr))
    at = m["ks_threshold"]
    tpr_at = np.mean(s[y == 1] >= at)
    fpr_at = np.mean(s[y == 0] >= at)
    assert tpr_at - fpr_at == pytest.approx(m["ks"])


def test_ks_by_hand() -> None:
    # scores 0.1..0.6; positives at 0.3, 0.5, 0.6. At t=0.5: TPR 2/3, FPR 0;
    # at t=0.3: TPR 1, FPR 1/3 -> both 2/3; the stricter threshold comes first.
    y = [0, 0, 1, 0, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    m = evaluate_binary(y, s)
    assert m["ks"] == pytest.approx(2 / 3)
    assert m["ks_threshold"] == 0.5
    assert m["auc"] == pytest.approx(8 / 9)


def test_inverted_scores_have_no_ks_threshold() -> None:
    m = evaluate_binary([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert (m["ks"], m["ks_threshold"], m["auc"]) == (0.0, None, 0.0)


@pytest.mark.parametrize("seed,ties,bins", [(0, False, 10), (5, True, 10), (6, False, 7), (7, False, 1)])
def test_lift_table_is_recall_and_precision_at_its_thresholds(seed: int, ties: bool, bins: int) -> None:
    y, s = _data(seed, n=333, ties=ties)
    rows = evaluate_binary(y, s, n_bins=bins)["lift_table"]
    base = y.mean()
    assert rows[-1]["cum_count"] == len(y) and rows[-1]["cumulative_gain"] == pytest.approx(1.0)
    assert sum(r["count"] for r in rows) == len(y)
    assert sum(r["positives"] for r in rows) == y.sum()
    for row in rows:
        pred = s >= row["threshold"]
        assert row["cum_count"] == pred.sum()
        assert row["cumulative_gain"] == pytest.approx(skm.recall_score(y, pred))
        assert row["lift"] == pytest.approx(skm.precision_score(y, pred) / base)
        assert row["bin_lift"] == pytest.approx(row["positive_rate"] / base)
    thresholds = [r["threshold"] for r in rows]
    assert thresholds == sorted(thresholds, reverse=True) and len(set(thresholds)) == len(rows)
    if not ties:
        assert [r["count"] for r in rows] == [
            int(np.ceil(k * len(y) / bins)) - int(np.ceil((k - 1) * len(y) / bins)) for k in range(1, bins + 1)
        ]


def test_ties_never_straddle_lift_bins() -> None:
    y = [1, 0, 1, 0, 1, 0, 0, 0]
    s = [0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.1, 0.1]
    rows = evaluate_binary(y, s, n_bins=4)["lift_table"]
    assert [(r["threshold"], r["count"], r["positives"]) for r in rows] == [(0.9, 4, 2), (0.5, 2, 1), (0.1, 2, 0)]
    assert rows[0]["lift"] == pytest.approx((2 / 4) / (3 / 8))


def test_roc_points_are_thinned_but_keep_the_ends() -> None:
    y, s = _data(8, n=2000)
    roc = evaluate_binary(y, s)["roc_curve"]
    assert len(roc["fpr"]) <= 101
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)


def test_threshold_changes_the_threshold_metrics() -> None:
    y, s = _data(9)
    m = evaluate_binary(y, s, threshold=0.8)
    pred = s >= 0.8
    assert m["threshold"] == 0.8
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))


def test_no_predicted_positive_gives_zero_precision() -> None:
    m = evaluate_binary([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == (0.0, 0.0, 0.0, 0.5)


def test_loss_and_importance_sections() -> None:
    imp = lr_feature_importance([0.5, -2.0, 0.0], [2.0, 0.1, 3.0], ["x0", "x1", "x2"])
    assert list(imp) == ["x0", "x1", "x2"] and imp == pytest.approx({"x0": 1.0, "x1": 0.2, "x2": 0.0})
    m = evaluate_binary([0, 1, 1, 0], [0.2, 0.7, 0.6, 0.4], loss_history=[0.69, 0.5, 0.55], importance={"10000": imp})
    assert m["loss"] == {"values": [0.69, 0.5, 0.55], "epochs": 3, "first": 0.69, "last": 0.55, "min": 0.5, "min_epoch": 2}
    fi = m["feature_importance"]
    assert fi["method"] == "abs_coef_x_std"
    assert [(r["feature"], r["rank"]) for r in fi["by_party"]["10000"]] == [("x0", 1), ("x1", 2), ("x2", 3)]


@pytest.mark.parametrize(
    "y,s,match",
    [
        ([], [], "y_true: empty"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "y_true: all 3 labels are 1"),
        ([0, 0], [0.1, 0.2], "all 2 labels are 0"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "labels must be 0 or 1, found 2"),
        ([0, 1, 0], [0.1, float("nan"), 0.3], "y_score: 1 value.*index 1"),
        ([0, 1, 0], [0.1, 0.2], "y_true has 3 values but y_score has 2"),
        ([0, 1, float("nan")], [0.1, 0.2, 0.3], "y_true: .*NaN"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_inputs_are_data_errors(y: list, s: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        evaluate_binary(y, s)


@pytest.mark.parametrize("kwargs,match", [({"threshold": float("nan")}, "threshold"), ({"n_bins": 0}, "n_bins")])
def test_bad_settings_are_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        evaluate_binary([0, 1], [0.2, 0.8], **kwargs)


def test_bad_loss_and_importance_inputs() -> None:
    with pytest.raises(DataError, match="loss_history: .*index 1"):
        evaluate_binary([0, 1], [0.2, 0.8], loss_history=[0.5, float("inf")])
    with pytest.raises(DataError, match="loss_history: empty"):
        evaluate_binary([0, 1], [0.2, 0.8], loss_history=[])
    with pytest.raises(DataError, match="coef has 2 values but feature_names has 1"):
        lr_feature_importance([1.0, 2.0], [1.0, 1.0], ["a"])
    with pytest.raises(DataError, match="negative value for feature 'b'"):
        lr_feature_importance([1.0, 2.0], [1.0, -1.0], ["a", "b"])
