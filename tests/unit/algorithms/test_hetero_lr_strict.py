"""Hetero LR's privacy='strict' mode: as accurate as the default mode on breast, and the host never holds its
gradient, weights or partial scores in the clear (what it receives, captured on the in-memory channel)."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from airflow_provider_powerfl.algorithms import masking
from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression, protocol
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan
from airflow_provider_powerfl.algorithms.hetero_lr.strict import SCORE_FRAC_BITS, Bounds, update_share
from airflow_provider_powerfl.crypto import paillier_private
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.errors import PeerFailed
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST, HOST2 = "10000", "20000", "30000"
KEY = 1024  # test-only key length
# sgd (strict mode's optimizer) with a light L2; no label noise, so both modes train the same model (the default
# mode told strict's own residual and last iterate, SAME_AS_STRICT: strict mode needs neither spelled out)
SAME_AS_STRICT = {"default": {"residual": "taylor", "average": 0.0}, "strict": {}}
TRAIN = dict(max_iter=4, batch_size=128, optimizer="sgd", learning_rate=0.15, alpha=0.01, tol=0.0, random_state=7,
             epsilon=None, key_length=KEY)  # fmt: skip


@pytest.fixture(scope="module")
def breast() -> dict[str, np.ndarray]:
    g = np.genfromtxt(DATA / "breast_hetero_guest.csv", delimiter=",", skip_header=1)
    h = np.genfromtxt(DATA / "breast_hetero_host.csv", delimiter=",", skip_header=1)
    return {"y": g[:, 1], GUEST: g[:, 2:], HOST: h[:, 1:]}


def _check(out: dict) -> dict:
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out


def train(breast, privacy: str, job: str, received: list | None = None, keys: dict | None = None) -> dict:
    parties = memory_parties(job, {GUEST: "guest", HOST: "host"})
    if received is not None:  # every object the host's code takes off the channel, with its tag
        real_recv = parties[HOST].recv

        def recv(src, tag, *args, **kwargs):
            obj = real_recv(src, tag, *args, **kwargs)
            received.append((tag, obj))
            return obj

        parties[HOST].recv = recv  # type: ignore[method-assign]

    def fit(pid: str):
        threading.current_thread().name = pid
        model = HeteroLogisticRegression(party=parties[pid], privacy=privacy, **TRAIN, **SAME_AS_STRICT[privacy])
        return model.fit(breast[pid], breast["y"] if pid == GUEST else None)

    real_generate = paillier_private.generate_keypair

    def generate(*args, **kwargs):
        pair = real_generate(*args, **kwargs)
        if keys is not None:
            keys[threading.current_thread().name] = pair
        return pair

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(protocol, "generate_keypair", generate)
        models = _check(run_parties({pid: (lambda pid=pid: fit(pid)) for pid in (GUEST, HOST)}))
    proba = _check(run_parties({pid: (lambda pid=pid: models[pid].predict_proba(breast[pid])) for pid in (GUEST, HOST)}))
    return {"models": models, "auc": roc_auc_score(breast["y"], proba[GUEST][:, 1])}


@pytest.fixture(scope="module")
def strict_run(breast) -> dict:
    received: list = []
    keys: dict = {}
    run = train(breast, "strict", "hlr-strict", received, keys)
    return {**run, "received": received, "keys": keys}


def plaintext_host_gradients(breast) -> list[np.ndarray]:
    """The host's gradient sums X_B^T d of every batch, from the same training in the clear (Taylor, sgd, L2)."""
    y, Xg, Xh = breast["y"], np.c_[breast[GUEST], np.ones(len(breast["y"]))], breast[HOST]
    wg, wh = np.zeros(Xg.shape[1]), np.zeros(Xh.shape[1])
    plan = BatchPlan(len(y), TRAIN["batch_size"], TRAIN["max_iter"], 0.0, TRAIN["random_state"], False)
    lr, alpha, sums = TRAIN["learning_rate"], TRAIN["alpha"], []
    for epoch in range(plan.max_iter):
        for rows in plan.batches(epoch):
            d = 0.25 * (Xg[rows] @ wg + Xh[rows] @ wh) + 0.5 - y[rows]
            sums.append(Xh[rows].T @ d)
            wg = wg - lr * (Xg[rows].T @ d / len(rows) + alpha * np.r_[wg[:-1], 0.0])
            wh = wh - lr * (sums[-1] / len(rows) + alpha * wh)
    return sums


def test_strict_mode_is_as_accurate_as_the_default_mode_on_breast(breast, strict_run):
    default = train(breast, "default", "hlr-strict-default")
    strict, plain = strict_run["models"], default["models"]
    assert default["auc"] >= 0.98 and abs(strict_run["auc"] - default["auc"]) <= 0.01, (strict_run["auc"], default["auc"])
    # the same SGD on the same batches: only fixed-point rounding differs
    np.testing.assert_allclose(strict[HOST].coef_, plain[HOST].coef_, atol=1e-6)
    np.testing.assert_allclose(strict[GUEST].coef_, plain[GUEST].coef_, atol=1e-6)
    np.testing.assert_allclose(strict[GUEST].loss_history_, plain[GUEST].loss_history_, atol=1e-6)
    assert strict[HOST].to_dict()["params"]["privacy"] == "strict"


def test_the_host_never_receives_its_gradient_weights_or_a_label_derived_plaintext(breast, strict_run):
    received, keys = strict_run["received"], strict_run["keys"]
    guest_key, host_private = keys[GUEST][0], keys[HOST][1]
    tags = [tag for tag, _ in received]
    assert "hetero_lr.host_gradient_masked" not in tags and "hetero_lr.d_guest" not in tags  # no default-mode path
    assert tags[-1] == "hetero_lr.strict.reveal" and tags.count("hetero_lr.strict.reveal") == 1  # b, once, at the end

    true_sums = plaintext_host_gradients(breast)
    rows = max(len(r) for r in BatchPlan(len(breast["y"]), 128, TRAIN["max_iter"], 0.0, 7, False).batches(0))
    bounds = Bounds(rows, len(true_sums), breast[HOST].shape[1], breast[GUEST].shape[1] + 2, TRAIN["learning_rate"])
    bound = max(bounds.gradient, bounds.loss)
    width, per = masking.slot_bits(bound), masking.slots_per_plaintext(bound, host_private.public_key.n_bits)
    scale = 2.0 ** (SCORE_FRAC_BITS + 2 + 20)  # a host gradient sum's fixed point (all strict host columns at 2^-20)
    true_ints = {int(round(v * scale)) for sums in true_sums for v in sums}
    decrypted = 0
    for tag, obj in received[:-1]:
        if isinstance(obj, dict):
            assert set(obj) <= {"version", "plan", "public_key", "n_sums", "loss", "stop"}, (tag, obj)
            continue
        assert isinstance(obj, np.ndarray) and obj.dtype == object, (tag, type(obj))  # ciphertexts only
        if tag == "hetero_lr.strict.guest_sums":  # the only ciphertexts under the host's key: what it decrypts
            for plain in host_private.raw_decrypt_many(list(obj)):
                for k in range(per):
                    slot = int(plain) >> (k * width) & ((1 << width) - 1)
                    assert slot == 0 or slot >> (bound + 32), "a decrypted slot is not masked"
                    assert all(abs(slot - (1 << bound) - t) >> 64 for t in true_ints)
                    decrypted += 1
        else:  # [[b]], [[d]] under the guest's key, which the host cannot open; they hold no gradient either
            assert tag in ("hetero_lr.strict.b", "hetero_lr.strict.d"), tag
            guest_key.check_ciphertexts(list(obj), tag)
    assert decrypted > 0


def test_update_share_sums_to_the_plaintext_step():
    rng = random.Random(3)
    frac = np.full(3, 20)
    weights = [rng.randrange(-(2**40), 2**40) for _ in range(3)]
    gradient = [rng.randrange(-(2**70), 2**70) for _ in range(3)]
    a, g = [rng.randrange(2**200) for _ in range(3)], [rng.randrange(2**300) for _ in range(3)]
    b, h = np.subtract(weights, a, dtype=object).tolist(), np.subtract(gradient, g, dtype=object).tolist()
    together = update_share(weights, gradient, frac, 128, 0.15, 0.01)
    split = np.add(update_share(a, g, frac, 128, 0.15, 0.01), update_share(b, h, frac, 128, 0.15, 0.01), dtype=object)
    assert np.all(np.abs(np.subtract(together, split, dtype=object)) <= 2)


def test_strict_mode_refuses_more_than_one_host_naming_privacy(breast):
    parties = memory_parties("hlr-strict-three", {GUEST: "guest", HOST: "host", HOST2: "host"})
    with pytest.raises(ConfigError, match="privacy"):
        HeteroLogisticRegression(party=parties[HOST], privacy="strict", **TRAIN).fit(breast[HOST][:, :10])
    with pytest.raises(ConfigError, match="privacy"):
        HeteroLogisticRegression(party=parties[GUEST], privacy="strict", **TRAIN).fit(breast[GUEST], breast["y"])


@pytest.mark.parametrize("params", [{"optimizer": "adam"}, {"penalty": "l1"}, {"residual": "guest_expansion"},
                                    {"class_weight": "balanced", "epsilon": None}, {"average": 0.5}])  # fmt: skip
def test_strict_mode_refuses_nonlinear_updates_naming_privacy(breast, params):
    parties = memory_parties("hlr-strict-bad", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match="privacy"):
        HeteroLogisticRegression(party=parties[GUEST], privacy="strict", **{**TRAIN, **params}).fit(breast[GUEST], breast["y"])


@pytest.mark.parametrize("guest_mode, host_mode", [("default", "strict"), ("strict", "default")])
def test_both_parties_must_ask_for_strict_mode(breast, guest_mode, host_mode):
    parties = memory_parties("hlr-strict-mixed", {GUEST: "guest", HOST: "host"})

    def fit(pid: str, privacy: str):
        with parties[pid]:
            model = HeteroLogisticRegression(party=parties[pid], privacy=privacy, timeout=60, **TRAIN)
            return model.fit(breast[pid], breast["y"] if pid == GUEST else None)

    out = run_parties({GUEST: lambda: fit(GUEST, guest_mode), HOST: lambda: fit(HOST, host_mode)}, timeout=120)
    if host_mode == "strict":  # the strict host refuses the default offer, naming privacy, and says so
        assert isinstance(out[HOST], ConfigError) and "privacy" in str(out[HOST])
        assert "privacy" in str(out[GUEST]), out[GUEST]
    else:  # the default host refuses the strict guest's protocol version; the guest is told
        assert "protocol 105" in str(out[HOST]), out[HOST]
        assert isinstance(out[GUEST], PeerFailed), out[GUEST]


def test_a_job_conf_can_ask_for_strict_mode():
    from airflow_provider_powerfl.jobs.params import validate_step_params

    params = validate_step_params("train", {"algorithm": "hetero_lr", "privacy": "strict"})
    assert params.privacy == "strict"
    assert validate_step_params("train", {}).privacy == "default"
    with pytest.raises(ConfigError, match="privacy"):
        validate_step_params("train", {"privacy": "strict", "optimizer": "adam"})
    with pytest.raises(ConfigError, match="privacy"):
        validate_step_params("train", {"privacy": "paranoid", "optimizer": "sgd"})
