"""Binary classification metrics from labels and scores, as JSON-able dicts.

Computed with numpy from one sort of the scores (no scikit-learn at run time,
so the numbers are ours to document; the tests cross-check scikit-learn).
A sample is predicted positive when ``score >= threshold`` everywhere here:
the confusion matrix, the KS threshold and the lift table thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import checks
from airflow_provider_powerfl.evaluation.importance import LR_IMPORTANCE_METHOD, importance_report
from airflow_provider_powerfl.evaluation.loss import loss_report

#: Points kept of the ROC curve in the JSON (the PNG uses all of them).
ROC_JSON_POINTS = 101


@dataclass(frozen=True)
class RocCurve:
    """The ROC curve at every distinct score, from the strictest threshold down.

    ``thresholds[0]`` is +inf (nothing predicted positive), so the curve starts
    at (0, 0) and ends at (1, 1). ``tps``/``fps`` are the counts behind the
    rates, kept so that comparisons between points are exact.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    tps: np.ndarray
    fps: np.ndarray


def roc_curve(y_true: np.ndarray, y_score: np.ndarray) -> RocCurve:
    """ROC points of validated 0/1 labels and finite scores."""
    order = np.argsort(-y_score, kind="mergesort")
    scores = y_score[order]
    hits = np.cumsum(y_true[order], dtype=np.int64)
    # The last index of each run of equal scores: ties move together.
    ends = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tps = np.r_[0, hits[ends]]
    fps = np.r_[0, ends + 1] - tps
    return RocCurve(
        fpr=fps / fps[-1],
        tpr=tps / tps[-1],
        thresholds=np.r_[np.inf, scores[ends]],
        tps=tps,
        fps=fps,
    )


def auc(curve: RocCurve) -> float:
    """Area under the ROC curve (trapezoids: tied scores count one half)."""
    return float(np.trapezoid(curve.tpr, curve.fpr))


def ks(curve: RocCurve) -> tuple[float, float | None]:
    """KS statistic max(TPR - FPR) and the threshold where it is reached.

    The threshold is None when the maximum is 0 (no threshold separates the
    classes better than chance, e.g. scores inverted).
    """
    positives, negatives = int(curve.tps[-1]), int(curve.fps[-1])
    # TPR - FPR scaled by P*N: integers, so equal gaps tie exactly and the
    # strictest threshold wins.
    gap = curve.tps * negatives - curve.fps * positives
    best = int(np.argmax(gap))
    value = int(gap[best]) / (positives * negatives)
    return value, (float(curve.thresholds[best]) if best else None)


def confusion(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> dict[str, int]:
    predicted = y_score >= threshold
    actual = y_true.astype(bool)
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted & ~actual))
    fn = int(np.count_nonzero(~predicted & actual))
    return {"tn": y_true.size - tp - fp - fn, "fp": fp, "fn": fn, "tp": tp}


def _ratio(num: int, den: int) -> float:
    """num/den, and 0.0 for 0/0 (scikit-learn's zero_division=0)."""
    return num / den if den else 0.0


def threshold_metrics(counts: Mapping[str, int]) -> dict[str, float]:
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def lift_table(y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 10) -> list[dict[str, Any]]:
    """Quantile lift/gain rows, best scores first.

    Row k's threshold is the score at rank ceil(k*n/n_bins) from the top and
    the row holds the samples with ``prev_threshold > score >= threshold``, so
    tied scores never straddle two rows; rows emptied by ties are dropped and
    the others may be larger than n/n_bins.
    """
    checks.positive_int("n_bins", n_bins)
    n = y_true.size
    order = np.argsort(-y_score, kind="mergesort")
    scores = y_score[order]
    hits = np.cumsum(y_true[order], dtype=np.int64)
    ascending = scores[::-1]
    total_pos = int(hits[-1])
    base_rate = total_pos / n
    rows: list[dict[str, Any]] = []
    prev_count = prev_pos = 0
    for k in range(1, n_bins + 1):
        cut = scores[math.ceil(k * n / n_bins) - 1]
        cum_count = n - int(np.searchsorted(ascending, cut, side="left"))
        if cum_count == prev_count:
            continue
        cum_pos = int(hits[cum_count - 1])
        count, pos = cum_count - prev_count, cum_pos - prev_pos
        rows.append(
            {
                "bin": len(rows) + 1,
                "threshold": float(cut),
                "score_max": float(scores[prev_count]),
                "count": count,
                "positives": pos,
                "negatives": count - pos,
                "positive_rate": pos / count,
                "cum_count": cum_count,
                "cum_positives": cum_pos,
                "population_pct": cum_count / n,
                "cumulative_gain": cum_pos / total_pos,
                "lift": (cum_pos / cum_count) / base_rate,
                "bin_lift": (pos / count) / base_rate,
            }
        )
        prev_count, prev_pos = cum_count, cum_pos
    return rows


def _roc_points(curve: RocCurve, limit: int = ROC_JSON_POINTS) -> dict[str, list[float]]:
    """The curve thinned to at most ``limit`` points, keeping both ends."""
    keep = np.unique(np.linspace(0, curve.fpr.size - 1, min(limit, curve.fpr.size)).round().astype(int))
    return {"fpr": curve.fpr[keep].tolist(), "tpr": curve.tpr[keep].tolist()}


def evaluate_binary(
    y_true: Sequence[float] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    *,
    threshold: float = 0.5,
    loss_history: Sequence[float] | None = None,
    importance: Mapping[str, Mapping[str, float]] | None = None,
    importance_method: str = LR_IMPORTANCE_METHOD,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Every binary metric of one evaluation set, as a JSON-able dict.

    :param y_true: labels coded 0/1; both classes must be present.
    :param y_score: the score of class 1 (a probability for the threshold to
        mean "0.5"), one per label, finite.
    :param threshold: predict 1 when ``score >= threshold``.
    :param loss_history: training loss per epoch, first epoch first.
    :param importance: ``{party_id: {feature: importance}}``, e.g. from
        :func:`~airflow_provider_powerfl.evaluation.importance.lr_feature_importance`.
    :param importance_method: how ``importance`` was computed, for the reader.
    :param n_bins: rows of the lift/gain table (10 = deciles).
    """
    labels = checks.binary_labels("y_true", y_true)
    scores = checks.vector("y_score", y_score)
    checks.same_length("y_true", labels, "y_score", scores)
    cut = checks.threshold(threshold)
    curve = roc_curve(labels, scores)
    ks_value, ks_threshold = ks(curve)
    counts = confusion(labels, scores, cut)
    positives = int(labels.sum())
    metrics: dict[str, Any] = {
        "task": "binary",
        "n": int(labels.size),
        "positives": positives,
        "negatives": int(labels.size) - positives,
        "auc": auc(curve),
        "ks": ks_value,
        "ks_threshold": ks_threshold,
        "threshold": cut,
        **threshold_metrics(counts),
        "confusion_matrix": {
            **counts,
            "matrix": [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]],
        },
        "lift_table": lift_table(labels, scores, n_bins),
        "roc_curve": _roc_points(curve),
    }
    if loss_history is not None:
        metrics["loss"] = loss_report(loss_history)
    if importance is not None:
        metrics["feature_importance"] = importance_report(importance, importance_method)
    return metrics
