"""Output heads: the loss of the top model's raw output and its gradient, per task (binary, multiclass, regression)."""

from __future__ import annotations

import numpy as np

TASKS = ("binary", "multiclass", "regression")


def output_units(task: str, n_classes: int) -> int:
    return n_classes if task == "multiclass" else 1


def loss_and_grad(task: str, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over the rows and d(mean loss)/d(out): log loss on a logit, softmax cross-entropy, or half MSE."""
    n = len(out)
    if task == "binary":
        u = out[:, 0]
        loss = float(np.mean(np.logaddexp(0.0, u) - y * u))
        return loss, ((_sigmoid(u) - y) / n)[:, None]
    if task == "multiclass":
        shifted = out - out.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        labels = y.astype(np.int64)
        loss = float(-np.mean(log_p[np.arange(n), labels]))
        grad = np.exp(log_p)
        grad[np.arange(n), labels] -= 1.0
        return loss, grad / n
    diff = out[:, 0] - y
    return float(0.5 * np.mean(diff * diff)), (diff / n)[:, None]


def transform(task: str, out: np.ndarray) -> np.ndarray:
    """What a prediction returns: P(y=1) (binary), class probabilities (multiclass) or values (regression)."""
    if task == "binary":
        return _sigmoid(out[:, 0])
    if task == "multiclass":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return out[:, 0]


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))
