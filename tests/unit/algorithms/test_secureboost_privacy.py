"""SecureBoost's privacy options: guest-only first trees, host histogram noise, GOSS off by default; the host's attack bench."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees, HeteroSecureBoost, encoding
from airflow_provider_powerfl.algorithms.secureboost.protocol import HostServer
from airflow_provider_powerfl.algorithms.secureboost.tree import LOCAL
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties
from bench.attack_secureboost import _record, host_scores, run_secureboost_attack

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST = "10000", "20000"
KEY = 512  # test-only key length, set explicitly


@pytest.fixture(scope="module")
def breast() -> dict[str, np.ndarray]:
    g = np.genfromtxt(DATA / "breast_hetero_guest.csv", delimiter=",", skip_header=1)
    h = np.genfromtxt(DATA / "breast_hetero_host.csv", delimiter=",", skip_header=1)
    test = g[:, 0] % 5 == 0
    return {"y": g[~test, 1], "guest": g[~test, 2:], "host": h[~test, 1:],
            "y_test": g[test, 1], "guest_test": g[test, 2:], "host_test": h[test, 1:]}  # fmt: skip


def _fit(d: dict[str, np.ndarray], guest: dict[str, Any], host: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray, list[dict]]:
    """Fit and predict jointly with per-party parameters; (models, guest raw test scores, the host's received commands)."""
    parties = memory_parties("sbt-privacy", {GUEST: "guest", HOST: "host"})
    seen: list[dict] = []
    _record(parties[HOST], seen)
    models: dict[str, Any] = {}

    def party(pid: str, params: dict[str, Any], X: np.ndarray, T: np.ndarray, y: np.ndarray | None) -> Any:
        def fn() -> Any:
            # hosts see the partitions unless a test hides them: the options measured here act on what they see
            params_ = {"hide_instance_space": False, **params}
            models[pid] = HeteroSecureBoost(party=parties[pid], key_length=KEY, timeout=60, **params_).fit(X, y)
            return models[pid].decision_function(T)

        return fn

    out = run_parties(
        {
            GUEST: party(GUEST, guest, d["guest"], d["guest_test"], d["y"]),
            HOST: party(HOST, host, d["host"], d["host_test"], None),
        }
    )
    for res in out.values():
        if isinstance(res, BaseException):
            raise res
    return models, out[GUEST], seen  # type: ignore[return-value]


PARAMS = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16, random_state=0)


def test_defaults() -> None:
    """Partitions and GOSS leak labels to hosts, so the instance space is hidden and GOSS off; guest-only trees and noise
    lower no label leak, so they are off (measured: docs/security.md)."""
    model = HeteroSecureBoost()
    assert model.hide_instance_space is True and model.goss is False
    assert model.guest_only_trees == 0 and model.hist_noise == 0.0


def test_guest_only_trees_hide_the_first_partitions_from_hosts(breast: dict[str, np.ndarray]) -> None:
    d = breast
    models, raw, seen = _fit(d, {**PARAMS, "guest_only_trees": 2}, PARAMS)
    trees = [t for r in models[GUEST].trees_ for t in r]
    # the host received gradients, and node assignments, of the last two trees only
    assert sum(m["op"] == "tree" for m in seen) == 2
    assert len({len(m["gh"]) for m in seen if m["op"] == "tree"}) == 1
    assert all(o == LOCAL for t in trees[:2] for o in t.owner)
    assert any(o == HOST for t in trees[2:] for o in t.owner) and models[HOST].splits_
    # the first two trees are the guest's plaintext GBDT on its own columns
    own = GradientBoostedTrees(**{**PARAMS, "n_estimators": 2}).fit(d["guest"], d["y"])
    assert [t.to_dict() for t in trees[:2]] == [t.to_dict() for r in own.trees_ for t in r]
    np.testing.assert_array_equal(models[GUEST].init_score_, own.init_score_)
    assert roc_auc_score(d["y_test"], raw[:, 0]) > 0.95


def test_guest_only_trees_at_least_n_estimators_never_asks_the_host(breast: dict[str, np.ndarray]) -> None:
    models, raw, seen = _fit(breast, {**PARAMS, "guest_only_trees": 10}, PARAMS)
    assert not any(m["op"] in ("tree", "hist", "split") for m in seen)
    assert models[HOST].splits_ == {}
    plain = GradientBoostedTrees(**PARAMS).fit(breast["guest"], breast["y"])
    np.testing.assert_allclose(raw, plain.decision_function(breast["guest_test"]), rtol=0, atol=1e-9)


def test_host_histogram_noise_changes_the_sums_not_much_the_model(breast: dict[str, np.ndarray]) -> None:
    d = breast
    _, raw_exact, _ = _fit(d, PARAMS, PARAMS)
    _, raw, _ = _fit(d, PARAMS, {**PARAMS, "hist_noise": 2.0})  # only the host's value counts
    assert not np.allclose(raw, raw_exact)  # noise reached the guest's gains
    assert roc_auc_score(d["y_test"], raw[:, 0]) > 0.85  # exact: 0.966; 24 noisy runs: 0.923-0.971
    # a guest asking for noise does not add any: hosts send exact sums
    _, raw_guest_noise, _ = _fit(d, {**PARAMS, "hist_noise": 2.0}, PARAMS)
    np.testing.assert_array_equal(raw_guest_noise, raw_exact)


def test_noise_draws_have_the_documented_scale() -> None:
    public, private = generate_keypair(KEY, allow_insecure_key_length=True)
    server = HostServer(memory_parties("sbt-noise", {GUEST: "guest", HOST: "host"})[HOST], GUEST, None)
    server.public_key, server.noise, server.n_sampled = public, 3.0, 1000
    count = encoding.per_ciphertext(public.max_int.bit_length() - 1)
    draws: list[int] = []
    for _ in range(400):  # 3,200 draws: the mean's own sd is 3/sqrt(3200) = 0.05, so the bounds hold by > 5 sigma
        digits = encoding.split_digits(public.decode_int(server._noise_plaintext(count)), count)
        for g, h in (encoding.unpack_sum(v, signed_h=True) for v in digits):
            draws += [g, h]
    sd = statistics.pstdev(draws) / encoding.row_bound(1000)
    assert 2.7 < sd < 3.3 and abs(statistics.fmean(draws)) / encoding.row_bound(1000) < 0.3


def test_unpack_sum_reads_negative_hessian_sums_only_when_noisy() -> None:
    value = -5 + (7 << encoding.H_BITS)
    assert encoding.unpack_sum(value, signed_h=True) == (7, -5)
    with pytest.raises(Exception, match="hessian sum overflowed"):
        encoding.unpack_sum(value)


def test_host_scores_from_partitions_and_sampling() -> None:
    y = np.r_[np.zeros(50), np.ones(50)]
    labelled = (y + (np.arange(100) % 10 == 0)) % 2  # a partition agreeing with y on 90 rows
    seen = [{"op": "tree", "rows": np.flatnonzero(y)}, {"op": "hist", "assign": np.zeros(100, np.int32)},
            {"op": "hist", "assign": labelled.astype(np.int32) + 1}]  # fmt: skip
    scores = host_scores(seen, 100)
    assert roc_auc_score(y, scores["sampling"]) == 1.0
    auc = roc_auc_score(y, scores["partition"])
    assert max(auc, 1 - auc) == pytest.approx(0.9)


def test_attack_bench_returns_the_figures() -> None:
    out = run_secureboost_attack("breast", "guest-only-trees", trees=2, depth=2, key_length=KEY)
    fields = ("attack_auc", "federated_auc", "centralized_auc", "seconds", "attack_auc_partition", "attack_auc_sampling",
              "attack_auc_beyond_host_features")  # fmt: skip
    for field in fields:
        assert 0.0 <= out[field] and (field == "seconds" or out[field] <= 1.0)
    assert out["trees_seen_by_host"] == 1 and out["params"]["guest_only_trees"] == 1
    shown = run_secureboost_attack("breast", "shown", trees=2, depth=2, key_length=KEY)
    assert shown["trees_seen_by_host"] == 2 and shown["federated_auc"] == shown["plaintext_gbdt_auc"]
    assert shown["params"]["hide_instance_space"] is False and shown["attack_auc_partition"] > 0.5
