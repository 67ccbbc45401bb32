"""Hetero NN over in-memory parties: accuracy against the same network trained centrally, two hosts, the
packed Paillier path, what crosses the wire, the peers' checks, early stopping and the model state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from airflow_provider_powerfl.algorithms.hetero_lr.protocol import new_keypair
from airflow_provider_powerfl.algorithms.hetero_nn import HeteroNN, interactive as ia
from airflow_provider_powerfl.algorithms.hetero_nn.central import fit_predict_central
from airflow_provider_powerfl.algorithms.hetero_nn.host import HostSession
from airflow_provider_powerfl.algorithms.hetero_nn.links import RemoteLink
from airflow_provider_powerfl.algorithms.hetero_nn.packing import Layout, encode_values, factor_floats, factor_ints
from airflow_provider_powerfl.algorithms.hetero_nn.params import HeteroNNParams
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST, HOST2 = "10000", "20000", "30000"
KEY = 512  # test-only key length (POWERFL_INSECURE_TEST_KEYS=1 in tests/conftest.py)
FAST = {"key_length": KEY, "random_state": 3, "max_iter": 8, "batch_size": 64, "learning_rate": 0.01, "timeout": 60}


@pytest.fixture(scope="module")
def breast() -> dict[str, np.ndarray]:
    g = np.genfromtxt(DATA / "breast_hetero_guest.csv", delimiter=",", skip_header=1)
    h = np.genfromtxt(DATA / "breast_hetero_host.csv", delimiter=",", skip_header=1)
    X = np.hstack([g[:, 2:], h[:, 1:]])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    order = np.random.default_rng(0).permutation(len(X))
    return {"X": X, "y": g[:, 1], "train": order[:450], "test": order[450:], "n_guest": g.shape[1] - 2}


def columns(breast, rows, n_hosts=1) -> dict[str, np.ndarray]:
    X, g = breast["X"][rows], breast["n_guest"]
    if n_hosts == 1:
        return {GUEST: X[:, :g], HOST: X[:, g:]}
    half = g + (X.shape[1] - g) // 2
    return {GUEST: X[:, :g], HOST: X[:, g:half], HOST2: X[:, half:]}


def run(fns):
    out = run_parties(fns, timeout=300)
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out


def fit_all(parties, train, y, valid=None, y_valid=None, **params):
    def fit(pid):
        guest = parties[pid].role == "guest"
        eval_set = None if valid is None else ((valid[pid], y_valid) if guest else valid[pid])
        return HeteroNN(party=parties[pid], **params).fit(train[pid], y if guest else None, eval_set=eval_set)

    return run({pid: (lambda pid=pid: fit(pid)) for pid in train})


def predict_all(models, test):
    return run({pid: (lambda pid=pid: models[pid].predict_proba(test[pid])) for pid in test})[GUEST][:, 1]


@pytest.fixture(scope="module")
def two_party(breast):
    capture: list[bytes] = []
    parties = memory_parties("hnn-two", {GUEST: "guest", HOST: "host"}, capture=capture)
    seen: dict[str, list[np.ndarray]] = {"a": [], "sent": []}
    send_forward, backward = HostSession.send_forward, RemoteLink.backward

    def recording_forward(session, a, mode, name):
        seen["a"].append(np.array(a))
        return send_forward(session, a, mode, name)

    def recording_backward(link, delta, sent):
        seen["sent"].append(np.array(sent))
        return backward(link, delta, sent)

    HostSession.send_forward, RemoteLink.backward = recording_forward, recording_backward
    try:
        train, y = columns(breast, breast["train"]), breast["y"][breast["train"]]
        models = fit_all(parties, train, y, max_norm=None, epsilon=None, **FAST)
    finally:
        HostSession.send_forward, RemoteLink.backward = send_forward, backward
    return {"models": models, "parties": parties, "wire": b"".join(capture), "seen": seen, "train": train}


def test_encrypted_training_matches_the_same_network_trained_centrally(two_party, breast):
    test, y_test = columns(breast, breast["test"]), breast["y"][breast["test"]]
    federated = roc_auc_score(y_test, predict_all(two_party["models"], test))
    params = {k: v for k, v in FAST.items() if k != "timeout"}
    central = roc_auc_score(y_test, fit_predict_central(two_party["train"], GUEST, breast["y"][breast["train"]], test, **params))
    assert federated >= 0.99
    assert abs(federated - central) <= 0.01
    assert len(two_party["models"][GUEST].loss_history_) == FAST["max_iter"]
    assert two_party["models"][HOST].loss_history_ == two_party["models"][GUEST].loss_history_


def test_packed_rows_give_the_exact_fixed_point_products():
    guest_public, guest_private = new_keypair(1024)
    runner, units = ia.Runner(None), 4
    rng = np.random.default_rng(5)
    V, U = (factor_ints(rng.normal(0, 0.5, (units, units))) for _ in range(2))
    layout = Layout(units, guest_public.n_bits)
    bases = ia.combine_bases(guest_public, ia.shifted_encryptions(runner.kernels, guest_private, V, layout), U, layout)
    values = encode_values(np.tanh(rng.normal(size=(37, units))), "h")
    cts = ia.rows_product(runner, guest_public, bases, values, layout)
    assert len(cts) == layout.groups(37) < 37  # decryptions cut by the packing factor
    got = ia.decrypt_rows(runner.kernels, guest_private, cts, 37, layout, "h", "t")
    np.testing.assert_array_equal(got, np.ldexp(values, -12) @ (factor_floats(V) @ factor_floats(U)))


def test_two_hosts_train_jointly(breast):
    parties = memory_parties("hnn-three", {GUEST: "guest", HOST: "host", HOST2: "host"})
    train, y = columns(breast, breast["train"], 2), breast["y"][breast["train"]]
    models = fit_all(parties, train, y, **FAST)  # the default defence: clipping and noise
    auc = roc_auc_score(breast["y"][breast["test"]], predict_all(models, columns(breast, breast["test"], 2)))
    assert auc >= 0.98


def _patterns(values: np.ndarray) -> set[bytes]:
    """Each non-trivial value's float64 bytes in both byte orders, and each row's 2^-12 fixed-point int64 bytes."""
    values = np.asarray(values, dtype=np.float64)
    out = {np.rint(row * 4096).astype(np.int64).tobytes() for row in values}
    for v in values.ravel():
        if abs(v) > 1e-3:
            out |= {np.float64(v).tobytes(), np.float64(v).byteswap().tobytes()}
    return out


def test_no_plaintext_features_labels_activations_or_gradients_on_the_wire(two_party, breast):
    wire = two_party["wire"]
    assert len(wire) > 100_000
    secrets = {"host features": two_party["train"][HOST][:20], "guest features": two_party["train"][GUEST][:20],
               "host bottom outputs": two_party["seen"]["a"][0][:20], "gradients to the host": two_party["seen"]["sent"][0][:20]}  # fmt: skip
    for what, values in secrets.items():
        leaked = [p for p in _patterns(values) if p in wire]
        assert not leaked, f"{what} found on the wire"
    assert breast["y"][breast["train"]][:64].astype(np.float64).tobytes() not in wire


def test_plaintext_mode_sends_the_bottom_outputs_in_the_clear(breast):
    capture: list[bytes] = []
    parties = memory_parties("hnn-plain", {GUEST: "guest", HOST: "host"}, capture=capture)
    train, y = columns(breast, breast["train"]), breast["y"][breast["train"]]
    models = fit_all(parties, train, y, mode="plaintext", **{**FAST, "max_iter": 2})
    bottom = models[HOST].bottom_.forward(train[HOST][:5])
    assert models[GUEST].mode == "plaintext" and bottom.shape == (5, 4)


def test_a_malformed_ciphertext_from_the_host_is_refused_before_decryption(breast):
    parties = memory_parties("hnn-bad", {GUEST: "guest", HOST: "host"})
    real = HostSession.send_forward

    def crafted(session, a, mode, name):
        cts = ia.rows_product(session.runner, session.guest_key, session.bases, encode_values(a, "h"), session.forward_layout)
        cts[0] = session.guest_key.n  # shares a factor with n: no ciphertext
        session.party.send(session.guest, f"hetero_nn.{name}", cts)

    HostSession.send_forward = crafted
    try:
        out = run_parties({pid: (lambda pid=pid: HeteroNN(party=parties[pid], **{**FAST, "timeout": 5}).fit(
            columns(breast, breast["train"])[pid], breast["y"][breast["train"]] if pid == GUEST else None)) for pid in (GUEST, HOST)},
            timeout=120)  # fmt: skip
    finally:
        HostSession.send_forward = real
    assert isinstance(out[GUEST], MalformedCiphertextError)
    assert "shares a factor with n" in str(out[GUEST])


def test_early_stopping_stops_every_party_and_keeps_the_best_epoch(breast):
    parties = memory_parties("hnn-early", {GUEST: "guest", HOST: "host"})
    train, valid = columns(breast, breast["train"]), columns(breast, breast["test"])
    models = fit_all(parties, train, breast["y"][breast["train"]], valid, breast["y"][breast["test"]],
                     **{**FAST, "max_iter": 30, "learning_rate": 0.05, "early_stopping_rounds": 2})  # fmt: skip
    guest = models[GUEST]
    assert len(guest.loss_history_) < 30 and len(models[HOST].loss_history_) == len(guest.loss_history_)
    assert min(guest.valid_loss_history_) < guest.valid_loss_history_[-1]


def test_model_state_round_trips_through_json_and_predicts_the_same(two_party, breast):
    test = columns(breast, breast["test"])
    before = predict_all(two_party["models"], test)
    parties = memory_parties("hnn-reload", {GUEST: "guest", HOST: "host"})
    loaded = {
        pid: HeteroNN.from_dict(json.loads(json.dumps(m.to_dict())), party=parties[pid]) for pid, m in two_party["models"].items()
    }
    np.testing.assert_allclose(predict_all(loaded, test), before, atol=1e-12)
    with pytest.raises(DataError, match="format"):
        HeteroNN.from_dict({"format": "x"})


@pytest.mark.parametrize(("param", "value"), [("mode", "clear"), ("interactive_units", 0), ("learning_rate", -1.0),
                                              ("batch_size", 8), ("max_norm", 0.0), ("task", "ranking")])  # fmt: skip
def test_bad_parameters_raise_errors_naming_them(breast, param, value):
    parties = memory_parties("hnn-params", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match=param):
        HeteroNN(party=parties[GUEST], **{param: value}).fit(np.zeros((100, 2)), np.r_[np.zeros(50), np.ones(50)])


def test_a_host_refuses_batches_below_its_floor_and_the_guest_says_why(breast):
    parties = memory_parties("hnn-refuse", {GUEST: "guest", HOST: "host"})
    train, y = columns(breast, breast["train"]), breast["y"][breast["train"]]
    out = run_parties({
        GUEST: lambda: HeteroNN(party=parties[GUEST], **{**FAST, "min_batch_size": 32, "batch_size": 32}).fit(train[GUEST], y),
        HOST: lambda: HeteroNN(party=parties[HOST], **{**FAST, "min_batch_size": 64}).fit(train[HOST]),
    }, timeout=60)  # fmt: skip
    assert isinstance(out[HOST], DataError) and "min_batch_size=64" in str(out[HOST])
    assert isinstance(out[GUEST], FederationError) and "refused" in str(out[GUEST])


def test_categorical_and_batch_norm_train_jointly_and_round_trip(breast):
    X, y = breast["X"], breast["y"]
    codes = (X[:, :1] > np.median(X[:, 0])).astype(float) + (X[:, 1:2] > np.median(X[:, 1]))  # 0, 1, 2
    columns = {GUEST: np.hstack([codes, X[:, 2:6]]), HOST: X[:, 6:]}
    names = {GUEST: ["grade", "a", "b", "c", "d"], HOST: [f"h{i}" for i in range(X.shape[1] - 6)]}
    parties = memory_parties("hnn-tabular", {GUEST: "guest", HOST: "host"})
    params = {"mode": "plaintext", "batch_norm": True, "max_iter": 4, "batch_size": 64, "random_state": 0,
              "max_norm": None, "epsilon": None}  # fmt: skip
    models = {GUEST: HeteroNN(party=parties[GUEST], categorical=["grade"], **params),
              HOST: HeteroNN(party=parties[HOST], **params)}  # fmt: skip
    run({pid: (lambda pid=pid: models[pid].fit(columns[pid], y if pid == GUEST else None, feature_names=names[pid]))
         for pid in models})  # fmt: skip
    assert models[GUEST].embedding_ == {"columns": [0], "cardinalities": [3]}
    scores = predict_all(models, columns)
    assert roc_auc_score(y, scores) > 0.95
    loaded = {pid: HeteroNN.from_dict(json.loads(json.dumps(m.to_dict())), party=parties[pid]) for pid, m in models.items()}
    np.testing.assert_allclose(predict_all(loaded, columns), scores)


def test_batch_norm_is_refused_with_epsilon_whose_per_row_accounting_it_breaks():
    with pytest.raises(ValueError, match="batch_norm=True"):
        HeteroNNParams(batch_norm=True)  # epsilon 16 by default
    assert HeteroNNParams(batch_norm=True, epsilon=None).batch_norm


def test_categorical_names_and_codes_are_checked():
    with pytest.raises(ValueError, match="categorical"):
        HeteroNNParams(categorical=["a", "a"])
    parties = memory_parties("hnn-cat-check", {GUEST: "guest", HOST: "host"})
    X, y = np.column_stack([np.arange(80) % 3, np.ones(80)]).astype(float), np.arange(80) % 2
    with pytest.raises(ConfigError, match="no column 'grade'"):
        HeteroNN(party=parties[GUEST], categorical=["grade"]).fit(X, y, feature_names=["a", "b"])
    with pytest.raises(DataError, match="integer codes"):
        HeteroNN(party=parties[GUEST], categorical=["b"]).fit(X + 0.5, y, feature_names=["a", "b"])
