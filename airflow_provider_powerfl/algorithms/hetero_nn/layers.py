"""Neural-network layers in numpy with a small forward / backward / parameters interface (no torch).

A layer maps a batch (rows x units) forward, takes the loss gradient of its output backward (returning the
gradient of its input and keeping its parameters' gradients), and lists its parameters and their gradients
in the same order, which is all an optimizer (``optim.py``) needs. Another framework's model can stand in
for a bottom or top model by offering the same four methods.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")


class Layer:
    """forward(x, training) -> y; backward(dy) -> dx; params() and grads(), aligned lists of arrays."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> list[np.ndarray]:
        return []

    def grads(self) -> list[np.ndarray]:
        return []

    def buffers(self) -> list[np.ndarray]:
        """State that is saved and restored with the parameters but not trained (batch norm's running statistics)."""
        return []


class Dense(Layer):
    """y = x W + b, Glorot-uniform W from ``rng``, zero b."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        limit = np.sqrt(6.0 / (n_in + n_out))
        self.W = rng.uniform(-limit, limit, size=(n_in, n_out))
        self.b = np.zeros(n_out)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        return x @ self.W + self.b

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.dW[...] = self._x.T @ dy
        self.db[...] = dy.sum(axis=0)
        return dy @ self.W.T

    def params(self) -> list[np.ndarray]:
        return [self.W, self.b]

    def grads(self) -> list[np.ndarray]:
        return [self.dW, self.db]


class Activation(Layer):
    """Element-wise relu, sigmoid, tanh or identity."""

    def __init__(self, kind: str) -> None:
        if kind not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {'|'.join(ACTIVATIONS)}, got {kind!r}")
        self.kind = kind

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if self.kind == "relu":
            y = np.maximum(x, 0.0)
        elif self.kind == "sigmoid":
            y = 0.5 * (1.0 + np.tanh(0.5 * x))
        elif self.kind == "tanh":
            y = np.tanh(x)
        else:
            y = x
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.kind == "relu":
            return dy * (self._x > 0)
        if self.kind == "sigmoid":
            return dy * self._y * (1.0 - self._y)
        if self.kind == "tanh":
            return dy * (1.0 - self._y * self._y)
        return dy


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by 1 / (1 - rate)."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        self._mask = (self.rng.random(x.shape) >= self.rate) / (1.0 - self.rate)
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self._mask is None else dy * self._mask


class BatchNorm(Layer):
    """Per-unit normalisation: in training by the batch's mean and variance (running averages kept), otherwise by
    the running averages; then y = gamma x_hat + beta (Ioffe and Szegedy 2015)."""

    def __init__(self, units: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        self.gamma, self.beta = np.ones(units), np.zeros(units)
        self.dgamma, self.dbeta = np.zeros(units), np.zeros(units)
        self.running_mean, self.running_var = np.zeros(units), np.ones(units)
        self.momentum, self.eps = momentum, eps

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._batch = training and len(x) > 1
        if self._batch:
            mean, var = x.mean(axis=0), x.var(axis=0)
            self.running_mean[...] = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var[...] = self.momentum * self.running_var + (1 - self.momentum) * var * len(x) / (len(x) - 1)
        else:
            mean, var = self.running_mean, self.running_var
        self._inv = 1.0 / np.sqrt(var + self.eps)
        self._xhat = (x - mean) * self._inv
        return self.gamma * self._xhat + self.beta

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.dgamma[...] = np.sum(dy * self._xhat, axis=0)
        self.dbeta[...] = dy.sum(axis=0)
        dxhat = dy * self.gamma
        if not self._batch:  # fixed statistics: an affine map
            return dxhat * self._inv
        return self._inv * (dxhat - dxhat.mean(axis=0) - self._xhat * np.mean(dxhat * self._xhat, axis=0))

    def params(self) -> list[np.ndarray]:
        return [self.gamma, self.beta]

    def grads(self) -> list[np.ndarray]:
        return [self.dgamma, self.dbeta]

    def buffers(self) -> list[np.ndarray]:
        return [self.running_mean, self.running_var]


class Embedding(Layer):
    """Categorical columns to learned vectors: the input's other columns pass through, then one ``dim``-wide vector
    per categorical column (codes 0..cardinality-1; any other code, unseen in training, shares one extra vector).

    Output width ``n_in - len(columns) + len(columns) * dim``; no gradient flows to the codes (zeros there).
    """

    def __init__(self, n_in: int, columns: Sequence[int], cardinalities: Sequence[int], dim: int,
                 rng: np.random.Generator) -> None:  # fmt: skip
        self.columns, self.cardinalities, self.dim = list(columns), list(cardinalities), dim
        self.numeric = [c for c in range(n_in) if c not in set(self.columns)]
        self.tables = [rng.normal(0.0, 1.0 / np.sqrt(dim), size=(k + 1, dim)) for k in self.cardinalities]
        self.dtables = [np.zeros_like(t) for t in self.tables]

    @property
    def n_out(self) -> int:
        return len(self.numeric) + len(self.columns) * self.dim

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._shape = x.shape
        self._codes = [np.where((x[:, c] >= 0) & (x[:, c] < k), x[:, c], k).astype(np.int64)
                       for c, k in zip(self.columns, self.cardinalities, strict=True)]  # fmt: skip
        return np.hstack([x[:, self.numeric], *(t[codes] for t, codes in zip(self.tables, self._codes, strict=True))])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.zeros(self._shape)
        dx[:, self.numeric] = dy[:, : len(self.numeric)]
        for i, (dt, codes) in enumerate(zip(self.dtables, self._codes, strict=True)):
            start = len(self.numeric) + i * self.dim
            dt[...] = 0.0
            np.add.at(dt, codes, dy[:, start : start + self.dim])
        return dx

    def params(self) -> list[np.ndarray]:
        return self.tables

    def grads(self) -> list[np.ndarray]:
        return self.dtables


class Sequential(Layer):
    """Layers applied in order; parameters listed layer by layer."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params()]

    def grads(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.grads()]

    def buffers(self) -> list[np.ndarray]:
        return [b for layer in self.layers for b in layer.buffers()]


def mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str, out_activation: str, dropout: float,
        rng: np.random.Generator, batch_norm: bool = False, inputs: Layer | None = None) -> Sequential:  # fmt: skip
    """Dense layers n_in -> hidden... -> n_out, ``activation`` (and dropout) between them, ``out_activation`` last;
    ``batch_norm``: BatchNorm before each hidden activation; ``inputs``: a first layer (embeddings) giving n_in units."""
    layers: list[Layer] = [] if inputs is None else [inputs]
    sizes = [n_in, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [Dense(a, b, rng), *([BatchNorm(b)] if batch_norm else []), Activation(activation)]
        if dropout:
            layers.append(Dropout(dropout, rng))
    layers += [Dense(sizes[-1], n_out, rng), Activation(out_activation)]
    return Sequential(layers)


def get_state(model: Layer) -> list[list]:
    """The model's parameters, then its buffers, as nested lists (JSON-ready)."""
    return [p.tolist() for p in (*model.params(), *model.buffers())]


def set_state(model: Layer, state: Sequence[Sequence]) -> None:
    """Load ``get_state`` output into a model of the same architecture (shapes checked)."""
    params = [*model.params(), *model.buffers()]
    if len(state) != len(params):
        raise ValueError(f"model state has {len(state)} parameter arrays, the architecture {len(params)}")
    for p, values in zip(params, state, strict=True):
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != p.shape:
            raise ValueError(f"model state has a parameter of shape {arr.shape}, the architecture {p.shape}")
        p[...] = arr
