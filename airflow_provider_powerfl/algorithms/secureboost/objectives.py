"""Loss functions as XGBoost names them: gradients, hessians, initial score and output transform."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, DataError

OBJECTIVES = ("binary:logistic", "reg:squarederror", "multi:softprob")
_EPS = 1e-15


@dataclass(frozen=True)
class Objective:
    """``name`` one of OBJECTIVES; ``n_classes`` 2 for binary, 1 for regression, K for softmax."""

    name: str
    n_classes: int

    @classmethod
    def for_labels(cls, name: str, y: np.ndarray) -> Objective:
        if name not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {OBJECTIVES}, got {name!r}")
        if name == "reg:squarederror":
            return cls(name, 1)
        if not np.all(y == np.rint(y)) or y.min() < 0:
            raise DataError(f"{name} needs integer class labels 0..K-1 in y")
        k = int(y.max()) + 1
        if name == "binary:logistic":
            if k != 2 or y.min() != 0:
                raise DataError("binary:logistic needs both labels 0 and 1 in y and no others")
            return cls(name, 2)
        if k < 2 or len(np.unique(y)) != k:
            raise DataError(f"multi:softprob needs every class 0..{k - 1} present in y")
        return cls(name, k)

    @property
    def n_outputs(self) -> int:
        """Trees per round: one per class for softmax, else one."""
        return self.n_classes if self.name == "multi:softprob" else 1

    def init_score(self, y: np.ndarray) -> np.ndarray:
        """Per-output base score: log-odds of the mean, the mean, or log class priors (as FATE does)."""
        if self.name == "reg:squarederror":
            return np.array([float(np.mean(y))])
        if self.name == "binary:logistic":
            p = float(np.clip(np.mean(y), _EPS, 1 - _EPS))
            return np.array([np.log(p / (1 - p))])
        priors = np.bincount(y.astype(np.int64), minlength=self.n_classes) / len(y)
        return np.log(np.clip(priors, _EPS, None))

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(g, h), each (n_rows, n_outputs)."""
        if self.name == "reg:squarederror":
            return score - y[:, None], np.ones_like(score)
        if self.name == "binary:logistic":
            p = _sigmoid(score)
            return p - y[:, None], np.maximum(p * (1 - p), _EPS)
        p = _softmax(score)
        onehot = np.eye(self.n_classes)[y.astype(np.int64)]
        return p - onehot, np.maximum(2.0 * p * (1 - p), _EPS)  # XGBoost's softmax hessian

    def transform(self, score: np.ndarray) -> np.ndarray:
        """Raw scores -> predictions: P(y=1), the value, or class probabilities (n, K)."""
        if self.name == "binary:logistic":
            return _sigmoid(score[:, 0])
        if self.name == "reg:squarederror":
            return score[:, 0]
        return _softmax(score)

    def loss(self, y: np.ndarray, score: np.ndarray) -> float:
        """Evaluation metric for early stopping: logloss, RMSE or multi-class logloss."""
        pred = self.transform(score)
        if self.name == "reg:squarederror":
            return float(np.sqrt(np.mean((pred - y) ** 2)))
        if self.name == "binary:logistic":
            p = np.clip(pred, _EPS, 1 - _EPS)
            return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        p = np.clip(pred[np.arange(len(y)), y.astype(np.int64)], _EPS, None)
        return float(-np.mean(np.log(p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
