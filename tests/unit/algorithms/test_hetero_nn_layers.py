"""Hetero NN's numpy layers, heads and optimisers: finite-difference gradient checks and the update rules."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.hetero_nn.defences import defend, epsilon_of, noise_multiplier
from airflow_provider_powerfl.algorithms.hetero_nn.guest import Interactive
from airflow_provider_powerfl.algorithms.hetero_nn.layers import Dropout, get_state, mlp, set_state
from airflow_provider_powerfl.algorithms.hetero_nn.losses import loss_and_grad
from airflow_provider_powerfl.algorithms.hetero_nn.optim import Optimizer
from airflow_provider_powerfl.algorithms.hetero_nn.packing import factor_floats, orthogonal_factor
from airflow_provider_powerfl.exceptions import ConfigError


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        out[i] = (up - down) / (2 * eps)
    return out


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_mlp_gradients_match_finite_differences(activation, task):
    rng = np.random.default_rng(1)
    n_out = 3 if task == "multiclass" else 1
    model = mlp(5, [7, 4], n_out, activation, "identity", 0.0, rng)
    x = rng.normal(size=(9, 5))
    y = rng.integers(0, n_out if task == "multiclass" else 2, size=9).astype(np.float64)
    if task == "regression":
        y = rng.normal(size=9)

    def loss() -> float:
        return loss_and_grad(task, model.forward(x), y)[0]

    value, d_out = loss_and_grad(task, model.forward(x), y)
    dx = model.backward(d_out)
    for p, g in zip(model.params(), model.grads(), strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-4, atol=1e-7)


def test_interactive_layer_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    layer = Interactive(3, 4, "relu", rng)
    a, parts = rng.normal(size=(6, 3)), [rng.normal(size=(6, 4)), rng.normal(size=(6, 4))]
    r = rng.normal(size=(6, 4))

    def loss() -> float:
        return float(np.sum(layer.combine(a, parts) * r))

    loss()
    d_a, delta = layer.split(r)
    np.testing.assert_allclose(d_a, numeric_grad(loss, a), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(delta, numeric_grad(loss, parts[0]), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(layer.grads()[0], numeric_grad(loss, layer.params()[0]), rtol=1e-5, atol=1e-8)


def test_dropout_scales_in_training_and_is_identity_otherwise():
    layer = Dropout(0.5, np.random.default_rng(0))
    x = np.ones((2000, 4))
    assert np.array_equal(layer.forward(x), x)
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 2.0} and abs(y.mean() - 1.0) < 0.05
    assert np.array_equal(layer.backward(np.ones_like(x)), y)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimisers_minimise_a_quadratic(kind):
    w = np.array([[3.0, -2.0]])
    opt = Optimizer(kind, 0.1 if kind == "adam" else 0.05)
    for _ in range(500):
        opt.step([w], [2 * w])
    assert np.abs(w).max() < 1e-2


def test_state_round_trips_and_checks_shapes():
    a, b = (
        mlp(3, [5], 2, "relu", "tanh", 0.0, np.random.default_rng(0)),
        mlp(3, [5], 2, "relu", "tanh", 0.0, np.random.default_rng(9)),
    )
    set_state(b, get_state(a))
    x = np.random.default_rng(1).normal(size=(4, 3))
    assert np.array_equal(a.forward(x), b.forward(x))
    with pytest.raises(ValueError, match="shape"):
        set_state(mlp(3, [6], 2, "relu", "tanh", 0.0, np.random.default_rng(0)), get_state(a))
    with pytest.raises(ConfigError, match="activation"):
        mlp(3, [5], 2, "gelu", "tanh", 0.0, np.random.default_rng(0))


def test_defence_clips_every_row_and_noise_matches_its_accounting():
    rows = np.random.default_rng(0).normal(size=(500, 4)) * 10
    clipped = defend(rows, 1.0, 0.0)
    np.testing.assert_allclose(np.linalg.norm(clipped, axis=1), 1.0)
    sigma = noise_multiplier(16.0, 1e-5, 10)
    assert epsilon_of(sigma, 1e-5, 10) == pytest.approx(16.0)
    noisy = defend(np.zeros((4000, 4)), 1.0, sigma)
    assert noisy.std() == pytest.approx(sigma, rel=0.05)
    assert np.array_equal(defend(rows, None, 0.0), rows)


def test_equalized_rows_have_exactly_the_clip_norm_and_orthogonal_factors_keep_it():
    rows = np.vstack([np.zeros((1, 4)), np.full((50, 4), 0.05), np.full((50, 4), 0.45), np.full((5, 4), 3.0)])
    equalized = defend(rows, 1.0, 0.0, equalize=True)
    np.testing.assert_allclose(np.linalg.norm(equalized, axis=1), 1.0)  # whatever the row's norm, 0 and clipped too
    clipped = defend(rows, 1.0, 0.0)
    np.testing.assert_allclose(np.sum((equalized - clipped) * clipped, axis=1), 0.0, atol=1e-12)  # added orthogonally
    rng = np.random.default_rng(0)
    W = factor_floats(orthogonal_factor(rng.normal(size=(4, 4)))) @ factor_floats(orthogonal_factor(rng.normal(size=(4, 4))))
    np.testing.assert_allclose(np.linalg.norm(equalized @ W.T, axis=1), 1.0, atol=1e-2)  # what the host decrypts
    # exact norms add no label-dependent variance: the Gaussian mechanism's accounting holds unchanged
    assert noise_multiplier(32.0, 1e-5, 5) == pytest.approx(0.988, abs=0.002)
