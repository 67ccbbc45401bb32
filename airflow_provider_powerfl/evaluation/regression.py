"""Regression summary (for SecureBoost and linear regression jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

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
    constant = float(np.var(truth)) == 0.0  # R² and explained variance have no denominator
    mse = float(skm.mean_squared_error(truth, pred))
    metrics: dict[str, Any] = {
        "task": "regression",
        "n": int(truth.size),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(skm.mean_absolute_error(truth, pred)),
        "median_ae": float(skm.median_absolute_error(truth, pred)),
        "max_error": float(skm.max_error(truth, pred)),
        "r2": None if constant else float(skm.r2_score(truth, pred)),
        "explained_variance": None if constant else float(skm.explained_variance_score(truth, pred)),
        "mean_true": float(truth.mean()),
        "mean_pred": float(pred.mean()),
    }
    if loss_history is not None:
        metrics["loss"] = loss_report(loss_history)
    return metrics
