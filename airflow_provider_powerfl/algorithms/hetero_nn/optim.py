"""Optimisers over a model's parameter list (layers.Layer.params / grads): SGD with momentum and Adam, with L2."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError

OPTIMIZERS = ("adam", "sgd")
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class Optimizer:
    """Updates ``params`` in place from ``grads`` (same order) with weight decay ``alpha`` on matrices only."""

    def __init__(self, kind: str, learning_rate: float, alpha: float = 0.0, momentum: float = 0.9) -> None:
        if kind not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {'|'.join(OPTIMIZERS)}, got {kind!r}")
        self.kind, self.learning_rate, self.alpha, self.momentum = kind, learning_rate, alpha, momentum
        self._m: list[np.ndarray] | None = None
        self._v: list[np.ndarray] | None = None
        self._t = 0

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        if self._m is None:
            self._m = [np.zeros_like(p) for p in params]
            self._v = [np.zeros_like(p) for p in params]
        self._t += 1
        for p, g, m, v in zip(params, grads, self._m, self._v, strict=True):
            g = g + self.alpha * p if p.ndim > 1 else g  # biases are not decayed
            if self.kind == "sgd":
                m *= self.momentum
                m += g
                p -= self.learning_rate * m
                continue
            m *= _BETA1
            m += (1 - _BETA1) * g
            v *= _BETA2
            v += (1 - _BETA2) * g * g
            m_hat = m / (1 - _BETA1**self._t)
            v_hat = v / (1 - _BETA2**self._t)
            p -= self.learning_rate * m_hat / (np.sqrt(v_hat) + _EPS)
