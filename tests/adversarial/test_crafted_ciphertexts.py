"""A malicious peer sends crafted ciphertexts on every protocol path that decrypts or computes on a peer's.

Each case runs the real protocol code (hetero LR, SecureBoost, WOE/IV) over in-memory parties, with
one party's ``send`` replaced so that one message carries a crafted value instead of a ciphertext.
The honest receiver must raise MalformedCiphertextError naming the sender, the message and the key,
before it decrypts or sends anything more; every other party must stop with PeerFailed naming that
error. Nothing is decrypted: the key owner's ``raw_decrypt_many`` never sees the crafted value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.feature_engineering import hetero_binning
from airflow_provider_powerfl.algorithms.feature_engineering.hetero_binning import HeteroFeatureBinning
from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression, protocol as hetero_lr_protocol
from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost, estimator as sbt_estimator
from airflow_provider_powerfl.crypto import paillier_private
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.federation.errors import PeerFailed
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST = "10000", "20000"
KEY = 1024  # test-only key length, set explicitly
ROWS = 160


@pytest.fixture(scope="module")
def breast() -> dict[str, np.ndarray]:
    g = np.genfromtxt(DATA / "breast_hetero_guest.csv", delimiter=",", skip_header=1, max_rows=ROWS)
    h = np.genfromtxt(DATA / "breast_hetero_host.csv", delimiter=",", skip_header=1, max_rows=ROWS)
    return {"y": g[:, 1], GUEST: g[:, 2:], HOST: h[:, 1:]}


# What a malicious peer puts in place of the first ciphertext of a vector, given the victim key's n
# and the real factor p (a dishonest peer does not know p; a multiple of it is the worst case).
CRAFTED: dict[str, Callable[[mpz, mpz], mpz]] = {
    "0": lambda n, p: mpz(0),
    "n": lambda n, p: n,
    "multiple of p": lambda n, p: p * 12345,
    "n^2": lambda n, p: n * n,
    "above n^2": lambda n, p: n * n + 7,
}

# (algorithm, malicious party, message tag, owner of the key the message's ciphertexts are under)
PATHS = [
    ("hetero_lr", HOST, "hetero_lr.host_gradient", GUEST),  # decrypted by the guest for the host
    ("hetero_lr", HOST, "hetero_lr.u_host", HOST),  # computed on by the guest (the decryptor host's key)
    ("hetero_lr", GUEST, "hetero_lr.d_guest", GUEST),  # computed on by the host
    ("hetero_lr", GUEST, "hetero_lr.guest_gradient", HOST),  # decrypted by the host for the guest
    ("secureboost", GUEST, "secureboost.cmd", GUEST),  # the guest's encrypted gradients, computed on by the host
    ("secureboost", HOST, "secureboost.reply", GUEST),  # the host's histograms, decrypted by the guest
    # hide_instance_space: every row's per node (its histograms go back through the same check as above)
    ("secureboost_hidden", GUEST, "secureboost.cmd", GUEST),
    ("woe", GUEST, "fe/woe/labels", GUEST),  # the guest's encrypted labels, computed on by the host
    ("woe", HOST, "fe/woe/sums", GUEST),  # the host's bin sums, decrypted by the guest
]


def _fit(algorithm: str, party, X: np.ndarray, y: np.ndarray | None) -> Any:
    if algorithm == "hetero_lr":
        return HeteroLogisticRegression(party=party, key_length=KEY, max_iter=1, batch_size=80, random_state=1).fit(X, y)
    if algorithm == "secureboost":  # the partitions shown to hosts, no longer the default
        shown = HeteroSecureBoost(party=party, key_length=KEY, n_estimators=4, max_depth=2, timeout=60, hide_instance_space=False)
        return shown.fit(X, y)
    if algorithm == "secureboost_hidden":  # the default
        return HeteroSecureBoost(party=party, key_length=KEY, n_estimators=4, max_depth=2, timeout=60).fit(X, y)
    return HeteroFeatureBinning(party=party, key_length=KEY, n_bins=4, timeout=60).fit(X, y)


def _tamper(obj: object, craft: Callable[[mpz], mpz]) -> tuple[object, bool]:
    """``obj`` with the first ciphertext of its first object array replaced; whether one was found."""
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size:
        out = obj.copy()
        out[0] = craft(out[0])
        return out, True
    if isinstance(obj, dict):
        for key, value in obj.items():
            changed, done = _tamper(value, craft)
            if done:
                return {**obj, key: changed}, True
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            changed, done = _tamper(value, craft)
            if done:
                return [*obj[:i], changed, *obj[i + 1 :]], True
    return obj, False


def attack(
    algorithm: str,
    data: dict,
    malicious: str,
    message: str,
    owner: str,
    crafted: str,
    monkeypatch,
    fit: Callable[[Any, Any, Any], object] | None = None,
) -> dict:
    """Run ``algorithm`` (or ``fit(party, X, y)``) with ``malicious`` crafting the first ciphertext of its first ``message``."""
    parties = memory_parties(f"adv-{algorithm}", {GUEST: "guest", HOST: "host"})
    keys: dict[str, tuple] = {}
    decrypted: list[mpz] = []
    real_generate, real_decrypt = paillier_private.generate_keypair, paillier_private.PaillierPrivateKey.raw_decrypt_many

    def generate(*args, **kwargs):
        pair = real_generate(*args, **kwargs)
        keys[threading.current_thread().name] = pair
        return pair

    def decrypt(self, ciphertexts):
        decrypted.extend(ciphertexts)
        return real_decrypt(self, ciphertexts)

    for module in (hetero_lr_protocol, hetero_binning, sbt_estimator):
        if hasattr(module, "generate_keypair"):
            monkeypatch.setattr(module, "generate_keypair", generate)
    monkeypatch.setattr(paillier_private.PaillierPrivateKey, "raw_decrypt_many", decrypt)

    sent_value: list[mpz] = []
    real_send = parties[malicious].send

    def send(dst: str, tag: str, obj: object) -> None:
        if tag == message and not sent_value:
            public, private = keys[owner]
            value = CRAFTED[crafted](public.n, private.p)
            obj, done = _tamper(obj, lambda _c: value)
            if done:
                sent_value.append(value)
        real_send(dst, tag, obj)

    parties[malicious].send = send  # type: ignore[method-assign]

    def run(pid: str) -> Callable[[], object]:
        def fn() -> object:
            threading.current_thread().name = pid
            with parties[pid]:
                y = data["y"] if pid == GUEST else None
                return fit(parties[pid], data[pid], y) if fit else _fit(algorithm, parties[pid], data[pid], y)

        return fn

    out = run_parties({pid: run(pid) for pid in (GUEST, HOST)}, timeout=120)
    assert sent_value, f"party {malicious} never sent {message}: the case tests nothing"
    return {"out": out, "value": sent_value[0], "decrypted": decrypted, "keys": keys}


@pytest.mark.parametrize("crafted", list(CRAFTED))
@pytest.mark.parametrize(("algorithm", "malicious", "message", "owner"), PATHS)
def test_crafted_ciphertext_fails_every_party_and_is_never_decrypted(
    breast, algorithm, malicious, message, owner, crafted, monkeypatch
):
    result = attack(algorithm, breast, malicious, message, owner, crafted, monkeypatch)
    victim = GUEST if malicious == HOST else HOST
    refused, told = result["out"][victim], result["out"][malicious]
    fingerprint = result["keys"][owner][0].fingerprint

    assert isinstance(refused, MalformedCiphertextError), refused
    assert f"party {malicious} sent malformed" in str(refused) and message in str(refused)
    assert fingerprint in str(refused)
    assert isinstance(told, PeerFailed) and "MalformedCiphertextError" in str(told), told
    assert result["value"] not in result["decrypted"]


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_vector_of_the_wrong_length_is_refused(breast, delta, monkeypatch):
    """The hosts' gradient vector one ciphertext short or long of what the plan agreed."""
    parties = memory_parties("adv-size", {GUEST: "guest", HOST: "host"})
    real_send = parties[GUEST].send

    def send(dst: str, tag: str, obj: object) -> None:
        if tag == "hetero_lr.d_guest":
            obj = obj[:-1] if delta < 0 else np.append(obj, obj[:1])
        real_send(dst, tag, obj)

    parties[GUEST].send = send  # type: ignore[method-assign]

    def run(pid: str) -> Callable[[], object]:
        def fn() -> object:
            with parties[pid]:
                return _fit("hetero_lr", parties[pid], breast[pid], breast["y"] if pid == GUEST else None)

        return fn

    out = run_parties({pid: run(pid) for pid in (GUEST, HOST)}, timeout=120)
    assert isinstance(out[HOST], MalformedCiphertextError) and f"party {GUEST} sent malformed hetero_lr.d_guest" in str(out[HOST])
    assert "expected 80 ciphertexts" in str(out[HOST])
    assert isinstance(out[GUEST], PeerFailed) and "MalformedCiphertextError" in str(out[GUEST])
