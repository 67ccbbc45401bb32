"""Plaintext training on the joined columns: the models the TEE mode computes, and the centralized reference.

The same functions serve the enclave and the benchmark's centralized baseline, so "the TEE model equals the
centralized one" tests that sealing, key release and the join change nothing. LR is hetero LR's centralized
reference (bench/hetero_lr.py): scikit-learn's lbfgs on standardized columns with C = 1 / (alpha n). GBDT is the
library's plaintext SecureBoost reference, ``GradientBoostedTrees``, which the federated SecureBoost matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees

NN_PARAMS = {"max_iter": 10, "batch_size": 256, "learning_rate": 0.01, "random_state": 0}
GBDT_PARAMS = {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.3, "max_bin": 32, "reg_lambda": 1.0, "random_state": 0}


def fit_lr(X: np.ndarray, y: np.ndarray, alpha: float = 1e-3, max_iter: int = 1000) -> dict[str, Any]:
    """L2 logistic regression on standardized columns: the columns' mean and std, the weights, the intercept."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=1.0 / (alpha * len(y)), max_iter=max_iter)
    model.fit((X - mean) / std, y)
    return {"mean": mean, "std": std, "coef": model.coef_[0], "intercept": float(model.intercept_[0])}


def score_lr(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    return expit((X - model["mean"]) / model["std"] @ model["coef"] + model["intercept"])


def fit_gbdt(X: np.ndarray, y: np.ndarray, params: dict[str, Any] | None = None) -> GradientBoostedTrees:
    return GradientBoostedTrees(objective="binary:logistic", **{**GBDT_PARAMS, **(params or {})}).fit(X, y)


def fit_nn(
    X: np.ndarray, y: np.ndarray, T: np.ndarray, ranges: dict[str, slice], params: dict[str, Any] | None = None
) -> np.ndarray:
    """Hetero NN's network trained centrally (``hetero_nn.central``: each party's bottom model on its own columns,
    the label owner's, first in ``ranges``, with the top model); the test scores."""
    from airflow_provider_powerfl.algorithms.hetero_nn.central import fit_predict_central

    columns = {pid: X[:, cols] for pid, cols in ranges.items()}
    tests = {pid: T[:, cols] for pid, cols in ranges.items()}
    scores = fit_predict_central(columns, next(iter(ranges)), y, tests, **{**NN_PARAMS, **(params or {})})
    return np.asarray(scores, dtype=np.float64).reshape(len(T), -1)[:, -1]


def fit_and_score(operation: str, X: np.ndarray, y: np.ndarray, T: np.ndarray, params: dict[str, Any],
                  ranges: dict[str, slice] | None = None) -> tuple[Any, np.ndarray]:  # fmt: skip
    """(model, test scores) of ``operation`` ("train_lr" | "train_gbdt" | "train_nn"); NN needs each party's columns."""
    if operation == "train_nn":
        scores = fit_nn(X, y, T, ranges or {"0": slice(0, X.shape[1])}, params)
        return None, scores
    if operation == "train_lr":
        model = fit_lr(X, y, **params)
        return model, score_lr(model, T)
    model = fit_gbdt(X, y, params)
    return model, model.predict_proba(T)[:, 1]


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(y, scores))
