"""Multiclass classification summary (one-vs-rest AUC when scores are given)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import checks
from airflow_provider_powerfl.evaluation.binary import auc, roc_curve
from airflow_provider_powerfl.exceptions import ConfigError, DataError


def _plain(value: Any) -> Any:
    """A numpy scalar label as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def _class_labels(y_true: np.ndarray, y_pred: np.ndarray | None, labels: Sequence[Any] | None, k: int | None) -> np.ndarray:
    if labels is None:
        seen = np.unique(y_true if y_pred is None else np.concatenate([y_true, y_pred]))
        if k is not None and seen.size != k:
            raise ConfigError(
                f"labels: y_score has {k} columns but y_true holds {seen.size} classes; "
                "pass labels naming the class of each column"
            )
        return seen
    out = np.asarray(labels)
    if out.ndim != 1 or out.size < 2 or np.unique(out).size != out.size:
        raise ConfigError(f"labels: expected at least 2 distinct class labels, got {list(labels)!r}")
    if k is not None and out.size != k:
        raise ConfigError(f"labels: {out.size} labels for {k} score columns")
    return out


def _index(name: str, values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    lookup = {_plain(c): i for i, c in enumerate(classes)}
    try:
        return np.fromiter((lookup[_plain(v)] for v in values), dtype=np.int64, count=values.size)
    except KeyError as exc:
        raise DataError(f"{name}: label {exc.args[0]!r} is not one of {[_plain(c) for c in classes]}") from None


def evaluate_multiclass(
    y_true: Sequence[Any] | np.ndarray,
    y_score: Sequence[Any] | np.ndarray,
    *,
    labels: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class and averaged precision/recall/F1, confusion matrix.

    :param y_score: either predicted labels (1-D) or class scores (n x k,
        columns in ``labels`` order); with scores the prediction is the
        arg-max and one-vs-rest AUCs are added.
    :param labels: the classes, in column order; default: sorted classes seen.
    """
    truth = checks.labels("y_true", y_true)
    scores, classes, predicted = _predictions(truth, np.asarray(y_score), labels)
    checks.same_length("y_true", truth, "y_score", predicted)
    actual = _index("y_true", truth, classes)
    k = classes.size
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    precision = np.divide(tp, predicted_count, out=np.zeros(k), where=predicted_count > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1_den = support + predicted_count
    f1 = np.divide(2 * tp, f1_den, out=np.zeros(k), where=f1_den > 0)
    per_class = [
        {
            "label": _plain(classes[i]),
            "support": int(support[i]),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
        }
        for i in range(k)
    ]
    weights = support / support.sum()
    metrics: dict[str, Any] = {
        "task": "multiclass",
        "n": int(actual.size),
        "labels": [_plain(c) for c in classes],
        "accuracy": float(tp.sum() / actual.size),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": float(weights @ precision),
        "weighted_recall": float(weights @ recall),
        "weighted_f1": float(weights @ f1),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
    if scores is not None:
        _add_ovr_aucs(metrics, actual, scores)
    return metrics


def _predictions(
    truth: np.ndarray, raw: np.ndarray, labels: Sequence[Any] | None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The scores (None for predicted labels), the classes and each row's predicted class index."""
    if raw.ndim == 2:
        scores = checks.matrix("y_score", raw)
        classes = _class_labels(truth, None, labels, scores.shape[1])
        return scores, classes, np.argmax(scores, axis=1)
    y_pred = checks.labels("y_score", raw)
    classes = _class_labels(truth, y_pred, labels, None)
    return None, classes, _index("y_score", y_pred, classes)


def _add_ovr_aucs(metrics: dict[str, Any], actual: np.ndarray, scores: np.ndarray) -> None:
    """Each class's one-vs-rest AUC into its per_class row, and their mean when every class has one."""
    k = scores.shape[1]
    aucs = [_ovr_auc(actual == i, scores[:, i]) for i in range(k)]
    for row, value in zip(metrics["per_class"], aucs, strict=True):
        row["auc_ovr"] = value
    known = [a for a in aucs if a is not None]
    metrics["auc_ovr_macro"] = float(np.mean(known)) if len(known) == k else None


def _ovr_auc(is_class: np.ndarray, scores: np.ndarray) -> float | None:
    """One-vs-rest AUC of a class; None when the class or the rest is absent."""
    if is_class.all() or not is_class.any():
        return None
    return auc(roc_curve(is_class.astype(np.int8), scores))
