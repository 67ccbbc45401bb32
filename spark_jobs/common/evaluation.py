"""What the guest writes about scored rows, by task (binary, multiclass, regression): labels, metrics, report, predictions.

Both the train step (on its training rows) and the predict step use it, for every algorithm.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import evaluate_binary, evaluate_multiclass, evaluate_regression, write_report
from airflow_provider_powerfl.evaluation.importance import importance_report
from airflow_provider_powerfl.exceptions import DataError
from spark_jobs.common.output import Staging
from spark_jobs.common.vertical import binary_labels, local_path

TASKS = ("binary", "multiclass", "regression")
# the scalars of metrics.json a step's result.json repeats
SUMMARY = {
    "binary": ("auc", "ks", "accuracy", "precision", "recall", "f1", "n", "positives"),
    "multiclass": ("accuracy", "macro_f1", "weighted_f1", "n"),
    "regression": ("rmse", "mae", "r2", "n"),
}


def task_labels(task: str, y: np.ndarray, uri: str) -> tuple[np.ndarray, str | None]:
    """The guest's labels as the task needs them, and how they were read (kept in the model's encoding)."""
    if task == "binary":
        return binary_labels(y, uri)
    if task == "multiclass":
        if not np.all(y == np.rint(y)) or y.min() < 0:
            shown = ", ".join(f"{v:g}" for v in np.unique(y)[:5])
            raise DataError(f"{uri}: multiclass labels must be the class indices 0..K-1, found {shown}")
        return y, "0..K-1"
    return y, None


def evaluate(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    *,
    loss_history: Sequence[float] | None = None,
    importance: Mapping[str, Mapping[str, float]] | None = None,
    importance_method: str | None = None,
) -> dict[str, Any]:
    """metrics.json of one scored set: ``output`` is P(y=1), the (n, K) class probabilities or the predicted values."""
    if task == "binary":
        extra = {} if importance_method is None else {"importance_method": importance_method}
        return evaluate_binary(y, output, loss_history=loss_history, importance=importance, **extra)
    metrics = (
        evaluate_multiclass(y.astype(np.int64), output)
        if task == "multiclass"
        else evaluate_regression(y, output, loss_history=loss_history)
    )
    if importance is not None:
        metrics["feature_importance"] = importance_report(importance, importance_method or "")
    return metrics


def write_evaluation(out: Staging, task: str, metrics: dict[str, Any], y: np.ndarray, output: np.ndarray,
                     loss_history: Sequence[float] | None = None) -> None:  # fmt: skip
    """``report/``: metrics.json, with ROC/KS/loss charts for a binary task."""
    if task == "binary":
        write_report(local_path(out, "report"), metrics, y, output, loss_history)
    else:
        out.write_json("report/metrics.json", metrics)


def summary(task: str, metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    return {prefix + k: metrics[k] for k in SUMMARY[task]}


def output_columns(task: str, output: np.ndarray) -> dict[str, np.ndarray]:
    """predictions.csv columns: ``probability`` (binary), ``prediction`` + ``probability_<k>`` (multiclass), ``prediction``."""
    if task == "binary":
        return {"probability": output}
    if task == "multiclass":
        return {"prediction": output.argmax(axis=1), **{f"probability_{k}": output[:, k] for k in range(output.shape[1])}}
    return {"prediction": output}


def predictions_csv(ids: np.ndarray, columns: Mapping[str, np.ndarray], y: np.ndarray | None) -> str:
    """``id,<columns>[,label]`` in row order; floats written exactly (repr), integral values as integers."""
    text = io.StringIO()
    text.write(",".join(["id", *columns] + (["label"] if y is not None else [])) + "\n")
    values = [*columns.values()] + ([y] if y is not None else [])
    for i, row_id in enumerate(ids):
        text.write(",".join([str(row_id), *(_cell(v[i]) for v in values)]) + "\n")
    return text.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, np.integer):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
