"""Regression summary (for SecureBoost and linear regression jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import checks
from airflow_provider_powerfl.evaluation.loss import loss_report


def evaluate_regression(
    y_true: Sequence[float] | np.ndarray,
    y_pred: Sequence[float] | np.ndarray,
    *,
    loss_history: Sequence[float] | None = None,
) -> dict[str, Any]:
    """MSE, RMSE, MAE, median AE, max error, R² and explained variance.

    R² and explained variance are None when ``y_true`` is constant (their
    denominator, the variance of ``y_true``, is zero).
    """
    truth = checks.vector("y_true", y_true)
    pred = checks.vector("y_pred", y_pred)
    checks.same_length("y_true", truth, "y_pred", pred)
    error = truth - pred
    mse = float(np.mean(error**2))
    variance = float(np.var(truth))
    metrics: dict[str, Any] = {
        "task": "regression",
        "n": int(truth.size),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(error))),
        "median_ae": float(np.median(np.abs(error))),
        "max_error": float(np.max(np.abs(error))),
        "r2": 1.0 - mse / variance if variance > 0 else None,
        "explained_variance": 1.0 - float(np.var(error)) / variance if variance > 0 else None,
        "mean_true": float(truth.mean()),
        "mean_pred": float(pred.mean()),
    }
    if loss_history is not None:
        metrics["loss"] = loss_report(loss_history)
    return metrics
