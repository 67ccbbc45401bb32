"""Local weight updates of one party: SGD or Adam on its own gradient, with an L1 or L2 penalty.

Each party updates only its own weights, so the penalty is applied locally; the
guest's intercept is never penalised (``penalized`` is False there).
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("adam", "sgd")
PENALTIES = ("l2", "l1", None)

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class LocalUpdate:
    """w <- w - step(grad + penalty); L1 is a proximal soft-threshold under SGD, a subgradient under Adam."""

    def __init__(self, optimizer: str, learning_rate: float, penalty: str | None, alpha: float, penalized: np.ndarray) -> None:
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.penalty = penalty
        self.alpha = alpha
        self.penalized = penalized.astype(np.float64)
        self._m = np.zeros_like(self.penalized)
        self._v = np.zeros_like(self.penalized)
        self._t = 0

    def step(self, w: np.ndarray, grad: np.ndarray) -> np.ndarray:
        g = np.asarray(grad, dtype=np.float64).copy()
        proximal_l1 = self.penalty == "l1" and self.optimizer == "sgd"
        if self.penalty == "l2":
            g += self.alpha * w * self.penalized
        elif self.penalty == "l1" and not proximal_l1:
            g += self.alpha * np.sign(w) * self.penalized
        w = w - self._direction(g)
        if proximal_l1:
            shrink = self.learning_rate * self.alpha * self.penalized
            w = np.sign(w) * np.maximum(np.abs(w) - shrink, 0.0)
        return w

    def _direction(self, g: np.ndarray) -> np.ndarray:
        if self.optimizer == "sgd":
            return self.learning_rate * g
        self._t += 1
        self._m = _BETA1 * self._m + (1 - _BETA1) * g
        self._v = _BETA2 * self._v + (1 - _BETA2) * g * g
        m_hat = self._m / (1 - _BETA1**self._t)
        v_hat = self._v / (1 - _BETA2**self._t)
        return self.learning_rate * m_hat / (np.sqrt(v_hat) + _EPS)
