"""SecureBoost over in-memory parties: lossless against the plaintext GBDT, XGBoost-level AUC, nothing plain on the wire."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees, HeteroSecureBoost, encoding
from airflow_provider_powerfl.algorithms.secureboost.boosting import sample_rows
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST, HOST2 = "10000", "20000", "30000"
KEY = 512  # test-only key length, set explicitly


def _load(name: str) -> dict[str, np.ndarray]:
    g = np.genfromtxt(DATA / f"{name}_hetero_guest.csv", delimiter=",", skip_header=1)
    h = np.genfromtxt(DATA / f"{name}_hetero_host.csv", delimiter=",", skip_header=1)
    assert np.array_equal(g[:, 0], h[:, 0])
    test = g[:, 0] % 5 == 0  # 20 % held out by id
    return {"y": g[~test, 1], "guest": g[~test, 2:], "host": h[~test, 1:],
            "y_test": g[test, 1], "guest_test": g[test, 2:], "host_test": h[test, 1:]}  # fmt: skip


@pytest.fixture(scope="module")
def breast() -> dict[str, np.ndarray]:
    return _load("breast")


@pytest.fixture(scope="module")
def vehicle() -> dict[str, np.ndarray]:
    return _load("vehicle_scale")


def federated(columns: Mapping[str, np.ndarray], y: np.ndarray, tests: Mapping[str, np.ndarray], *,
              capture: list[bytes] | None = None, eval_sets: Mapping[str, Any] | None = None, **params: Any):  # fmt: skip
    """Fit at every party (guest first in ``columns``), then predict ``tests`` jointly; (models, guest raw scores)."""
    roles = {pid: ("guest" if i == 0 else "host") for i, pid in enumerate(columns)}
    parties = memory_parties("sbt", roles, capture=capture)

    def party_fn(pid: str) -> Callable[[], object]:
        def fn() -> tuple[HeteroSecureBoost, Any]:
            model = HeteroSecureBoost(party=parties[pid], key_length=KEY, timeout=60, **params)
            model.fit(columns[pid], y if roles[pid] == "guest" else None, eval_set=(eval_sets or {}).get(pid))
            return model, model.decision_function(tests[pid])

        return fn

    out = run_parties({pid: party_fn(pid) for pid in columns})
    for res in out.values():
        if isinstance(res, BaseException):
            raise res
    models = {pid: res[0] for pid, res in out.items()}
    return models, out[next(iter(columns))][1]


def _plain(X: np.ndarray, y: np.ndarray, **params: Any) -> GradientBoostedTrees:
    return GradientBoostedTrees(**params).fit(X, y)


BINARY = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16, subsample=0.8, random_state=7)


def test_binary_lossless_two_parties(breast: dict[str, np.ndarray]) -> None:
    d = breast
    models, raw = federated(
        {GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]}, **BINARY
    )
    plain = _plain(np.hstack([d["guest"], d["host"]]), d["y"], **BINARY)
    expected = plain.decision_function(np.hstack([d["guest_test"], d["host_test"]]))
    np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-9)
    assert models[HOST].splits_, "the host's features were never used: the test proves nothing"
    # importance: the guest knows gain per (host, opaque split); the host counts its own features
    assert set(models[GUEST].host_split_gain_[HOST]) == set(models[HOST].splits_)
    assert models[HOST].feature_importance_["split"].sum() == len(models[HOST].splits_)
    assert models[GUEST].feature_importance_["split"].sum() + len(models[HOST].splits_) == sum(
        sum(not t.is_leaf(n) for n in range(len(t.left))) for r in models[GUEST].trees_ for t in r
    )


def test_three_parties_lossless(breast: dict[str, np.ndarray]) -> None:
    d = breast
    h1, h2 = d["host"][:, :10], d["host"][:, 10:]
    t1, t2 = d["host_test"][:, :10], d["host_test"][:, 10:]
    models, raw = federated(
        {GUEST: d["guest"], HOST: h1, HOST2: h2}, d["y"], {GUEST: d["guest_test"], HOST: t1, HOST2: t2}, **BINARY
    )
    plain = _plain(np.hstack([d["guest"], h1, h2]), d["y"], **BINARY)
    np.testing.assert_allclose(raw, plain.decision_function(np.hstack([d["guest_test"], t1, t2])), rtol=0, atol=1e-9)
    assert models[HOST].splits_ and models[HOST2].splits_


def test_multiclass_lossless(vehicle: dict[str, np.ndarray]) -> None:
    d = vehicle
    params = dict(n_estimators=2, max_depth=3, learning_rate=0.3, max_bin=16, objective="multi:softprob", random_state=0)
    models, raw = federated(
        {GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]}, **params
    )
    plain = _plain(np.hstack([d["guest"], d["host"]]), d["y"], **params)
    T = np.hstack([d["guest_test"], d["host_test"]])
    np.testing.assert_allclose(raw, plain.decision_function(T), rtol=0, atol=1e-9)
    assert raw.shape == (len(T), 4) and len(models[GUEST].trees_[0]) == 4  # one tree per class per round
    assert np.mean(plain.predict(T) == d["y_test"]) > 0.6


def test_regression_lossless_with_early_stopping(breast: dict[str, np.ndarray]) -> None:
    d = breast
    # a target both parties' columns explain, on a scale far from 1
    y = 50.0 * d["guest"][:, 0] - 30.0 * d["host"][:, 3] + 100.0
    y_test = 50.0 * d["guest_test"][:, 0] - 30.0 * d["host_test"][:, 3] + 100.0
    params = dict(n_estimators=6, max_depth=2, learning_rate=0.5, max_bin=16, objective="reg:squarederror",
                  reg_lambda=2.0, gamma=0.5, min_child_weight=3.0, early_stopping_rounds=2)  # fmt: skip
    eval_sets = {GUEST: (d["guest_test"], y_test), HOST: d["host_test"]}
    models, raw = federated(
        {GUEST: d["guest"], HOST: d["host"]}, y, {GUEST: d["guest_test"], HOST: d["host_test"]}, eval_sets=eval_sets, **params
    )
    plain = GradientBoostedTrees(**params).fit(
        np.hstack([d["guest"], d["host"]]), y, eval_set=(np.hstack([d["guest_test"], d["host_test"]]), y_test)
    )
    np.testing.assert_allclose(raw, plain.decision_function(np.hstack([d["guest_test"], d["host_test"]])), rtol=0, atol=1e-9)
    assert models[GUEST].evals_result_ == plain.evals_result_
    assert models[GUEST].evals_result_[-1] < 0.7 * models[GUEST].evals_result_[0]
    assert len(models[GUEST].trees_) == models[GUEST].best_iteration_ + 1


def test_goss_lossless_and_keeps_the_largest_gradients(breast: dict[str, np.ndarray]) -> None:
    d = breast
    # half the rows left out: host candidates that cut the sampled rows alike but not the others are
    # common (ties the host breaks as the plaintext does, protocol.HostServer._first_alike)
    params = dict(
        n_estimators=5, max_depth=3, learning_rate=0.5, max_bin=16, goss=True, top_rate=0.2, other_rate=0.3, random_state=3
    )
    _, raw = federated({GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]}, **params)
    plain = _plain(np.hstack([d["guest"], d["host"]]), d["y"], **params)
    np.testing.assert_allclose(raw, plain.decision_function(np.hstack([d["guest_test"], d["host_test"]])), rtol=0, atol=1e-9)
    assert roc_auc_score(d["y_test"], raw[:, 0]) > 0.95

    boost = GradientBoostedTrees(**params)._boost_params()
    g = np.linspace(-1.0, 1.0, 100)[:, None]
    h = np.full_like(g, 0.25)
    rng = np.random.default_rng(0)
    sample, g2, h2 = sample_rows(rng, boost, 1, g, h)  # round 1 < 1 / learning_rate: all rows, as LightGBM
    assert sample.all() and g2 is g
    sample, g2, h2 = sample_rows(rng, boost, 2, g, h)
    top = np.argsort(-np.abs(g[:, 0]), kind="stable")[:20]
    assert sample.sum() == 50 and sample[top].all()
    other = sample & ~np.isin(np.arange(100), top)
    np.testing.assert_allclose(g2[other], g[other] * (0.8 / 0.3))
    np.testing.assert_allclose(h2[other], 0.25 * 0.8 / 0.3)
    np.testing.assert_array_equal(g2[top], g[top])


def test_plaintext_auc_matches_xgboost_hist(breast: dict[str, np.ndarray]) -> None:
    import xgboost as xgb  # the test extra xgboost-cpu; missing means a broken install, not a skip

    d = breast
    X, T = np.hstack([d["guest"], d["host"]]), np.hstack([d["guest_test"], d["host_test"]])
    params = dict(n_estimators=10, max_depth=3, learning_rate=0.1, max_bin=32, reg_lambda=1.0)
    ours = roc_auc_score(d["y_test"], _plain(X, d["y"], **params).predict_proba(T)[:, 1])
    ref = xgb.XGBClassifier(tree_method="hist", n_jobs=1, **params).fit(X, d["y"])
    assert abs(ours - roc_auc_score(d["y_test"], ref.predict_proba(T)[:, 1])) <= 0.005


def _float_forms(values: np.ndarray) -> list[bytes]:
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel().tolist():
        out += [struct.pack("<d", v), struct.pack(">d", v), repr(v).encode(), json.dumps(v).encode()]
    return out


def _int_forms(values: np.ndarray) -> list[bytes]:
    out = []
    for v in np.asarray(values, dtype=np.int64).ravel().tolist():
        if abs(v) < 2**16:
            continue  # short integers occur anywhere in random bytes
        out += [struct.pack("<q", v), struct.pack(">q", v), str(v).encode()]
    return out


def test_wire_carries_no_gradient_hessian_label_or_threshold(breast: dict[str, np.ndarray]) -> None:
    d = breast
    capture: list[bytes] = []
    params = dict(n_estimators=2, max_depth=3, learning_rate=0.3, max_bin=16, random_state=1)
    models, _ = federated(
        {GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]}, capture=capture, **params
    )
    wire = b"".join(capture)
    y = d["y"]
    # gradients and hessians of both rounds, as floats and as the quantized integers the guest packs
    plain = _plain(np.hstack([d["guest"], d["host"]]), y, **{**params, "n_estimators": 1})
    secrets_found = []
    for raw in (np.full(len(y), plain.init_score_[0]), plain.decision_function(np.hstack([d["guest"], d["host"]]))[:, 0]):
        p = 1 / (1 + np.exp(-raw))
        g, h = p - y, p * (1 - p)
        gq = encoding.quantize(g, encoding.frac_bits_for(g, len(g)))
        hq = encoding.quantize(h, encoding.frac_bits_for(h, len(h)))
        rows = np.r_[np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:20]]
        for form in _float_forms(g[rows]) + _float_forms(h[rows]) + _int_forms(gq[rows]) + _int_forms(hq[rows]):
            if form in wire:
                secrets_found.append(form)
    # labels, as arrays and as text
    for arr in (y, y.astype(np.int64), y.astype(np.uint8), y.astype(bool)):
        if arr.tobytes() in wire:
            secrets_found.append(b"labels " + arr.dtype.name.encode())
    if json.dumps(y.astype(int).tolist()).encode() in wire:
        secrets_found.append(b"labels json")
    # the host's thresholds (its split values never leave it)
    thresholds = np.array([t for _, t in models[HOST].splits_.values()])
    assert len(thresholds)
    secrets_found += [f for f in _float_forms(thresholds) if f in wire]
    assert not secrets_found, secrets_found[:5]


def test_state_round_trip_predicts_the_same(breast: dict[str, np.ndarray]) -> None:
    d = breast
    models, raw = federated({GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]},
                            n_estimators=2, max_depth=2, max_bin=8, random_state=0)  # fmt: skip
    states = {pid: json.loads(json.dumps(m.to_dict())) for pid, m in models.items()}
    assert "splits" not in states[GUEST] and "model" not in states[HOST]
    parties = memory_parties("sbt-predict", {GUEST: "guest", HOST: "host"})
    again = run_parties({
        GUEST: lambda: HeteroSecureBoost.from_dict(states[GUEST], party=parties[GUEST]).decision_function(d["guest_test"]),
        HOST: lambda: HeteroSecureBoost.from_dict(states[HOST], party=parties[HOST]).decision_function(d["host_test"]),
    })  # fmt: skip
    np.testing.assert_array_equal(again[GUEST], raw)
    assert again[HOST] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("n_estimators", 0), ("max_depth", 0), ("learning_rate", 0.0), ("max_bin", 1), ("min_child_weight", -1.0),
     ("reg_lambda", -0.1), ("gamma", float("nan")), ("subsample", 1.5), ("early_stopping_rounds", 0),
     ("objective", "rank:pairwise"), ("random_state", "seed"), ("key_length", 100), ("timeout", 0), ("executor", 3),
     ("goss", "yes"), ("top_rate", 0.0), ("other_rate", 1.5), ("guest_only_trees", -1), ("hist_noise", -0.5),
     ("hist_noise", float("inf"))],
)  # fmt: skip
def test_bad_params_name_the_parameter(breast: dict[str, np.ndarray], name: str, value: Any) -> None:
    parties = memory_parties("sbt-bad", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match=name):
        HeteroSecureBoost(party=parties[GUEST], **{"key_length": KEY, name: value}).fit(breast["guest"], breast["y"])
    if name not in ("key_length", "timeout", "executor", "guest_only_trees", "hist_noise"):
        with pytest.raises(ConfigError, match=name):
            GradientBoostedTrees(**{name: value}).fit(breast["guest"], breast["y"])


def test_bad_inputs_are_named(breast: dict[str, np.ndarray]) -> None:
    parties = memory_parties("sbt-bad", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match="y must be None at host"):
        HeteroSecureBoost(party=parties[HOST], key_length=KEY).fit(breast["host"], breast["y"])
    with pytest.raises(ConfigError, match="early_stopping_rounds needs an eval_set"):
        GradientBoostedTrees(early_stopping_rounds=2).fit(breast["guest"], breast["y"])
    with pytest.raises(ConfigError, match=r"top_rate \+ other_rate must be <= 1"):
        GradientBoostedTrees(goss=True, top_rate=0.6, other_rate=0.5).fit(breast["guest"], breast["y"])
    with pytest.raises(ConfigError, match="subsample must be 1 with goss"):
        GradientBoostedTrees(goss=True, subsample=0.5).fit(breast["guest"], breast["y"])
    with pytest.raises(DataError, match="binary:logistic"):
        GradientBoostedTrees().fit(breast["guest"], breast["y"] + 1)


def test_chunked_executor_gives_the_same_model(breast: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    """Encryption, decryption and host bin products split into row chunks (as over Spark partitions) change nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_powerfl.algorithms import paillier_kernels

    monkeypatch.setattr(paillier_kernels, "CHUNK_ROWS", 100)
    d = breast
    with ThreadPoolExecutor(2) as pool:
        _, raw = federated(
            {GUEST: d["guest"], HOST: d["host"]}, d["y"], {GUEST: d["guest_test"], HOST: d["host_test"]}, executor=pool, **BINARY
        )
    plain = _plain(np.hstack([d["guest"], d["host"]]), d["y"], **BINARY)
    np.testing.assert_allclose(raw, plain.decision_function(np.hstack([d["guest_test"], d["host_test"]])), rtol=0, atol=1e-9)
