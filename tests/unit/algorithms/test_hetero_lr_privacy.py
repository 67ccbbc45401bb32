"""Hetero LR's label defences towards hosts: secret initial weights, per-batch column support, residual noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression, guest
from airflow_provider_powerfl.algorithms.hetero_lr.defences import NOISE_BOUND, noise_scale, secure_normal, supported_columns
from airflow_provider_powerfl.algorithms.hetero_lr.host import HostSession
from airflow_provider_powerfl.algorithms.hetero_lr.params import mode_average, mode_residual
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

GUEST, HOST = "10000", "20000"
LEAKY = dict(init_scale=0.0, min_support=1, epsilon=None)
KEY = 1024  # test-only key length
N, BATCH = 200, 100


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    guest = rng.normal(size=(N, 3))
    host = np.c_[rng.normal(size=(N, 2)), np.zeros((N, 2))]
    host[5, 2] = 1.0  # a one-hot value in one row: its batch's sum is that row's residual
    host[:, 3] = 1.0
    host[7, 3] = 0.0  # all rows but one: with sum d known, again one row's residual
    y = (guest[:, 0] + host[:, 0] + rng.normal(size=N) > 0).astype(np.float64)
    return {"guest": guest, "host": host, "y": y}


def fit_recording(data, job: str, **params) -> tuple[dict, list[tuple[np.ndarray, np.ndarray]]]:
    """Train guest and host; return the models and every gradient sum the host's code decrypted."""
    parties = memory_parties(job, {GUEST: "guest", HOST: "host"})
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real = HostSession._batch

    def recording(session, rows, w):
        grad = real(session, rows, w)
        seen.append((rows.copy(), grad * len(rows)))
        return grad

    common = dict(max_iter=2, batch_size=BATCH, optimizer="sgd", learning_rate=0.5, penalty=None, tol=0.0,
                  residual="taylor", average=0.0, random_state=3, key_length=KEY)  # fmt: skip  # the replays' update
    common.update({k: params.pop(k) for k in ("residual", "average") if k in params})
    guest_only = {k: params.pop(k) for k in ("init_scale", "epsilon") if k in params}
    fns = {
        GUEST: lambda: HeteroLogisticRegression(party=parties[GUEST], **common, **params, **guest_only).fit(
            data["guest"], data["y"]
        ),
        HOST: lambda: HeteroLogisticRegression(party=parties[HOST], **common, **params).fit(data["host"]),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HostSession, "_batch", recording)
        out = run_parties(fns)
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out, seen


def test_average_ends_each_party_with_its_mean_weights_over_the_tail_steps(data):
    """Tail averaging (`average`) gives the weights bench.attack_sim's plaintext update averages the same way."""
    from bench.attack_sim import train

    models, _ = fit_recording(data, "hlr-priv-average", **LEAKY, average=0.5)
    changes = dict(
        max_iter=2, batch_size=BATCH, optimizer="sgd", learning_rate=0.5, penalty=None, **LEAKY, average=0.5, residual="taylor"
    )
    wg, wh, _ = train(data["guest"], data["host"], data["y"], changes, seed=3)
    last_g, last_h, _ = train(data["guest"], data["host"], data["y"], {**changes, "average": 0.0}, seed=3)
    np.testing.assert_allclose(np.r_[models[GUEST].coef_, models[GUEST].intercept_], wg, atol=1e-6)
    np.testing.assert_allclose(models[HOST].coef_, wh, atol=1e-6)
    assert np.max(np.abs(wh - last_h)) > 1e-3 and np.max(np.abs(wg - last_g)) > 1e-3  # the mean is not the last step


def test_supported_columns_drop_sums_that_isolate_few_rows():
    X = np.c_[np.zeros(10), np.eye(10)[:, 0], np.ones(10), 1 - np.eye(10)[:, 1], np.arange(10.0), np.r_[np.zeros(5), np.ones(5)]]
    assert supported_columns(X, 1).tolist() == [True] * 6
    # constant (support 0), one-hot in one row, all-but-one, all distinct (support 9), half and half (5)
    assert supported_columns(X, 4).tolist() == [True, False, True, False, True, True]
    assert supported_columns(X, 6).tolist() == [True, False, True, False, True, False]


def test_without_defences_the_first_host_gradient_is_exactly_x_transpose_half_minus_y(data):
    _, seen = fit_recording(data, "hlr-priv-leaky", **LEAKY)
    rows, sums = seen[0]
    np.testing.assert_allclose(sums, data["host"][rows].T @ (0.5 - data["y"][rows]), atol=1e-5)  # features at 2^-20
    # the one-hot value's sum is that row's residual, whose sign is its label, in every batch holding it
    signs = [np.sign(s[2]) for r, s in seen if 5 in r]
    assert sums.shape == (4,) and len(signs) == 2 and set(signs) == {-1.0 if data["y"][5] else 1.0}


def test_secret_initial_weights_hide_the_first_residual(data):
    _, seen = fit_recording(data, "hlr-priv-init", **{**LEAKY, "init_scale": 0.5})
    rows, sums = seen[0]
    assert np.max(np.abs(sums - data["host"][rows].T @ (0.5 - data["y"][rows]))) > 0.05


def test_min_support_zeroes_sums_that_would_isolate_a_row_and_training_still_agrees(data):
    models, seen = fit_recording(data, "hlr-priv-support", **{**LEAKY, "min_support": 8})
    for rows, sums in seen:
        keep = supported_columns(data["host"][rows], 8)
        assert np.all(sums[~keep] == 0.0)
        if 5 in rows:
            assert not keep[2] and not keep[3]  # the one-hot row and the all-but-one row
        assert keep[:2].all()
    assert models[HOST].coef_.shape == (4,)


def test_noise_reaches_the_hosts_gradients_only(data, monkeypatch):
    """With known noise draws, the run equals a plaintext replay where only the host's residual carries eta."""
    draws = np.random.default_rng(5)
    monkeypatch.setattr(guest, "secure_normal", lambda size: draws.normal(size=size))
    sigma = noise_scale(4.0, 1e-5, 2)
    models, _ = fit_recording(data, "hlr-priv-noise", epsilon=4.0, init_scale=0.3, min_support=1)

    replay = np.random.default_rng(5)
    Xg, Xh, y = np.c_[data["guest"], np.ones(N)], data["host"], data["y"]
    wg, wh = 0.3 / 2 * replay.normal(size=Xg.shape[1]), np.zeros(Xh.shape[1])  # init_scale / sqrt(p_G + 1)
    plan = BatchPlan(N, BATCH, 2, 0.0, 3, False)
    losses = []
    for epoch in range(2):
        total = 0.0
        for rows in plan.batches(epoch):
            eta = np.clip(sigma * replay.normal(size=len(rows)), -NOISE_BOUND, NOISE_BOUND)
            u = Xg[rows] @ wg + Xh[rows] @ wh
            d = 0.25 * u + 0.5 - y[rows]
            total += np.sum(np.log(2) - 0.5 * (2 * y[rows] - 1) * u + 0.125 * u * u)
            wg, wh = wg - 0.5 * Xg[rows].T @ d / len(rows), wh - 0.5 * Xh[rows].T @ (d + eta) / len(rows)
        losses.append(total / N)
    np.testing.assert_allclose(models[GUEST].coef_, wg[:-1], atol=1e-6)
    np.testing.assert_allclose(models[HOST].coef_, wh, atol=1e-6)
    np.testing.assert_allclose(models[GUEST].loss_history_, losses, atol=1e-4)  # eta is removed at 2^-16


def test_the_defences_are_on_by_default():
    params = HeteroLogisticRegression().get_params()
    assert (params["init_scale"], params["min_support"], params["epsilon"], params["delta"]) == (0.0, 16, 10.0, 1e-5)
    assert (params["optimizer"], params["learning_rate"], params["batch_size"], params["slope_every"]) == ("sgd", 1.0, 4096, 5)
    assert mode_residual("default", params["residual"]) == "guest_expansion" and mode_average("default", params["average"]) == 1.0
    assert mode_residual("strict", params["residual"]) == "taylor" and mode_average("strict", params["average"]) == 0.0


def test_noise_scale_accounting_gives_back_epsilon():
    for epsilon, delta, epochs in [(1.0, 1e-5, 10), (8.0, 1e-6, 3), (0.3, 1e-3, 50)]:
        sigma = noise_scale(epsilon, delta, epochs)
        rho = epochs / (2 * sigma**2)
        assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) == pytest.approx(epsilon)
    assert noise_scale(1.0, 1e-5, 10) > noise_scale(8.0, 1e-5, 10)


def test_secure_normal_is_standard_normal():
    draws = secure_normal(20_001)
    assert draws.shape == (20_001,)
    assert abs(draws.mean()) < 0.05 and abs(draws.std() - 1) < 0.05


@pytest.mark.parametrize(
    "params, name",
    [({"init_scale": -1.0}, "init_scale"), ({"min_support": 0}, "min_support"), ({"epsilon": 0.0}, "epsilon"),
     ({"delta": 0.0}, "delta"), ({"delta": 1.5}, "delta"), ({"epsilon": 1.0, "class_weight": "balanced"}, "epsilon"),
     ({"epsilon": 0.01}, "epsilon"), ({"average": 1.5}, "average")],
)  # fmt: skip
def test_bad_privacy_parameters_raise_errors_naming_them(data, params, name):
    parties = memory_parties("hlr-priv-bad", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match=name):
        HeteroLogisticRegression(party=parties[GUEST], key_length=KEY, **params).fit(data["guest"], data["y"])
