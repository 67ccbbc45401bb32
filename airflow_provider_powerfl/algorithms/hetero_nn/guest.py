"""The guest's side of hetero NN: its bottom model, the interactive layer's sum, the top model with the labels,
and the (defended) gradient each host gets back. docs/protocols/hetero_nn.md.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_nn.defences import defend
from airflow_provider_powerfl.algorithms.hetero_nn.layers import Activation, Dense, Layer
from airflow_provider_powerfl.algorithms.hetero_nn.losses import loss_and_grad
from airflow_provider_powerfl.algorithms.hetero_nn.optim import Optimizer
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import Plan, chunks
from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report

log = logging.getLogger(__name__)


class Interactive(Layer):
    """z = a_G W_G + b + sum of the hosts' parts, then the activation; W_G and b are the guest's own, in the clear."""

    def __init__(self, n_in: int, units: int, activation: str, rng: np.random.Generator) -> None:
        self.dense = Dense(n_in, units, rng)
        self.activation = Activation(activation)

    def combine(self, a_guest: np.ndarray, parts: Sequence[np.ndarray]) -> np.ndarray:
        return self.activation.forward(self.dense.forward(a_guest) + sum(parts))

    def split(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gradient of the guest's bottom output, delta = gradient of z) from the gradient of the output."""
        delta = self.activation.backward(dy)
        return self.dense.backward(delta), delta

    def params(self) -> list[np.ndarray]:
        return self.dense.params()

    def grads(self) -> list[np.ndarray]:
        return self.dense.grads()


class GuestSession:
    """One training run at the guest over its links (one per host)."""

    def __init__(self, bottom: Layer, interactive: Interactive, top: Layer, optimizer: Optimizer, task: str,
                 links: Sequence[object], plan: Plan, max_norm: float | None, sigma: float,
                 early_stopping_rounds: int | None, progress: ProgressCallback | None = None,
                 equalize: bool = False) -> None:  # fmt: skip
        self.bottom, self.interactive, self.top, self.optimizer = bottom, interactive, top, optimizer
        self.task, self.links, self.plan = task, list(links), plan
        self.max_norm, self.sigma, self.patience, self.progress = max_norm, sigma, early_stopping_rounds, progress
        self.equalize = equalize

    def own_params(self) -> list[np.ndarray]:
        """Everything the guest's optimizer updates, the links' included (kept and restored at the best epoch)."""
        links = [p for link in self.links for p in link.params()]
        return [*self.bottom.params(), *self.interactive.params(), *self.top.params(), *links]

    def own_state(self) -> list[np.ndarray]:
        """``own_params`` and the layers' buffers (batch norm's running statistics): what the best epoch keeps."""
        links = [b for link in self.links for b in link.buffers()]
        return [*self.own_params(), *self.bottom.buffers(), *self.top.buffers(), *links]

    def output(self, X: np.ndarray, rows: np.ndarray, split: str) -> np.ndarray:
        training = split == "train"
        parts = [link.forward(rows, split) for link in self.links]
        hidden = self.interactive.combine(self.bottom.forward(X[rows], training), parts)
        return self.top.forward(hidden, training)

    def step(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> float:
        loss, d_out = loss_and_grad(self.task, self.output(X, rows, "train"), y[rows])
        d_guest, delta = self.interactive.split(self.top.backward(d_out))
        sent = defend(
            delta * len(rows), self.max_norm, self.sigma, self.equalize
        )  # per-row gradients, as each host may learn them
        for link in self.links:
            link.backward(delta, sent)
        self.bottom.backward(d_guest)
        grads = [
            *self.bottom.grads(),
            *self.interactive.grads(),
            *self.top.grads(),
            *(g for link in self.links for g in link.grads()),
        ]
        self.optimizer.step(self.own_params(), grads)
        return loss

    def evaluate(self, X: np.ndarray, split: str) -> np.ndarray:
        return np.vstack([self.output(X, rows, split) for rows in chunks(len(X), self.plan.batch_size)])

    def fit(self, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray | None, y_valid: np.ndarray | None) -> dict[str, list[float]]:
        history: dict[str, list[float]] = {"loss": [], "valid_loss": []}
        best, best_loss, waited = copy.deepcopy(self.own_state()), np.inf, 0
        report(self.progress, TrainingProgress("epoch", 0, self.plan.max_iter, 0, self.plan.n_batches))
        for epoch in range(self.plan.max_iter):
            start, total = time.perf_counter(), 0.0
            for batch, rows in enumerate(self.plan.batches(epoch), 1):
                total += self.step(X, y, rows) * len(rows)
                last = history["loss"][-1] if history["loss"] else None
                report(self.progress, TrainingProgress("epoch", epoch, self.plan.max_iter, batch, self.plan.n_batches, last))
            history["loss"].append(total / len(X))
            watched = history["loss"][-1]
            if X_valid is not None:
                watched = loss_and_grad(self.task, self.evaluate(X_valid, "valid"), y_valid)[0]
                history["valid_loss"].append(watched)
            improved = watched < best_loss
            best, best_loss, waited = (copy.deepcopy(self.own_state()), watched, 0) if improved else (best, best_loss, waited + 1)
            stop = epoch + 1 == self.plan.max_iter or (self.patience is not None and waited >= self.patience)
            log.info("hetero_nn guest epoch %d: loss %.6f, watched %.6f (%.1f s)", epoch + 1, history["loss"][-1], watched,
                     time.perf_counter() - start)  # fmt: skip
            for link in self.links:
                link.end_epoch({"loss": history["loss"][-1], "stop": stop, "best": improved})
            report(
                self.progress,
                TrainingProgress("epoch", epoch + 1, self.plan.max_iter, 0, self.plan.n_batches, history["loss"][-1]),
            )
            if stop:
                break
        for p, b in zip(self.own_state(), best, strict=True):
            p[...] = b
        return history
