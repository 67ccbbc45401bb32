"""Hetero NN's batch norm and categorical embeddings: finite-difference gradients, train/eval modes, state."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.hetero_nn.layers import BatchNorm, Embedding, get_state, mlp, set_state
from airflow_provider_powerfl.algorithms.hetero_nn.losses import loss_and_grad
from tests.unit.algorithms.test_hetero_nn_layers import numeric_grad


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_finite_differences(training):
    rng = np.random.default_rng(3)
    layer = BatchNorm(4)
    layer.gamma[...], layer.beta[...] = rng.normal(size=4), rng.normal(size=4)
    layer.running_mean[...], layer.running_var[...] = rng.normal(size=4), rng.uniform(0.5, 2.0, size=4)
    x, r = rng.normal(size=(7, 4)) * 3 + 1, rng.normal(size=(7, 4))
    stats = [b.copy() for b in layer.buffers()]

    def loss() -> float:
        for b, s in zip(layer.buffers(), stats, strict=True):
            b[...] = s  # the running statistics' update must not move the evaluated function
        return float(np.sum(layer.forward(x, training) * r))

    loss()
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-8)
    for p, g in zip(layer.params(), layer.grads(), strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-5, atol=1e-8)


def test_batch_norm_normalises_batches_and_evaluates_with_running_statistics():
    layer = BatchNorm(3, momentum=0.0)  # the running statistics become the last batch's
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(500, 3))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0))
    one = layer.forward(x[:1])  # eval: one row, normalised by the running statistics, not by itself
    np.testing.assert_allclose(one, (x[:1] - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + 1e-5))


def test_embedding_gradients_and_unseen_codes():
    rng = np.random.default_rng(4)
    layer = Embedding(4, [1, 3], [3, 5], 2, rng)
    assert layer.n_out == 2 + 2 * 2
    x = np.column_stack([rng.normal(size=8), rng.integers(0, 3, 8), rng.normal(size=8), rng.integers(0, 5, 8)]).astype(float)
    r = rng.normal(size=(8, layer.n_out))

    def loss() -> float:
        return float(np.sum(layer.forward(x, True) * r))

    loss()
    dx = layer.backward(r)
    np.testing.assert_allclose(dx[:, [0, 2]], numeric_grad(loss, x)[:, [0, 2]], rtol=1e-6)
    assert np.all(dx[:, [1, 3]] == 0)
    for p, g in zip(layer.params(), layer.grads(), strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-9)
    unseen = layer.forward(np.array([[0.0, 7.0, 0.0, -1.0]]))  # codes outside training's share the extra vector
    np.testing.assert_array_equal(unseen[0, 2:4], layer.tables[0][3])
    np.testing.assert_array_equal(unseen[0, 4:6], layer.tables[1][5])


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_mlp_with_embeddings_and_batch_norm_matches_finite_differences(task):
    rng = np.random.default_rng(5)
    inputs = Embedding(3, [0], [4], 3, rng)
    model = mlp(inputs.n_out, [6, 5], 3 if task == "multiclass" else 1, "tanh", "identity", 0.0, rng, True, inputs)
    x = np.column_stack([rng.integers(0, 4, 10), rng.normal(size=(10, 2))]).astype(float)
    y = rng.integers(0, 3 if task == "multiclass" else 2, 10).astype(float)
    stats = [b.copy() for b in model.buffers()]

    def loss() -> float:
        for b, s in zip(model.buffers(), stats, strict=True):
            b[...] = s
        return loss_and_grad(task, model.forward(x, True), y)[0]

    model.backward(loss_and_grad(task, model.forward(x, True), y)[1])
    for p, g in zip(model.params(), model.grads(), strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-4, atol=1e-7)
    twin = mlp(inputs.n_out, [6, 5], 1 if task == "binary" else 3, "tanh", "identity", 0.0, np.random.default_rng(9),
               True, Embedding(3, [0], [4], 3, np.random.default_rng(9)))  # fmt: skip
    set_state(twin, get_state(model))  # the running statistics travel with the parameters
    np.testing.assert_array_equal(twin.forward(x), model.forward(x))
