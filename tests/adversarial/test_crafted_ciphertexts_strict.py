"""A malicious peer sends crafted ciphertexts on every path of hetero LR's privacy='strict' mode.

The pattern of test_crafted_ciphertexts.py: the real protocol over in-memory parties, one party's ``send``
replaced so that one message carries a crafted value in place of its first ciphertext. The honest receiver
raises MalformedCiphertextError naming sender, message and key before it decrypts or computes on it; the
other party stops with PeerFailed; the crafted value never reaches a decryption.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression, protocol
from airflow_provider_powerfl.crypto import paillier_private
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.federation.errors import PeerFailed
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties
from tests.adversarial.test_crafted_ciphertexts import CRAFTED, GUEST, HOST, _tamper, breast  # noqa: F401 - fixture

# (malicious party, message tag, owner of the key its ciphertexts are under)
STRICT_PATHS = [
    (GUEST, "hetero_lr.strict.b", GUEST),  # the guest's weight share, computed on by the host
    (HOST, "hetero_lr.strict.xb", GUEST),  # the masked X_H b, decrypted by the guest
    (HOST, "hetero_lr.strict.h", HOST),  # the host's score share, computed on by the guest
    (HOST, "hetero_lr.strict.h_square", HOST),  # its sum of squares, computed on by the guest
    (GUEST, "hetero_lr.strict.d", GUEST),  # the guest's residual share, computed on by the host
    (HOST, "hetero_lr.strict.host_gradient", GUEST),  # the masked host gradient, decrypted by the guest
    (GUEST, "hetero_lr.strict.guest_sums", HOST),  # the guest's masked sums, decrypted by the host
]


def strict_attack(data: dict, malicious: str, message: str, owner: str, crafted: str, monkeypatch) -> dict:
    parties = memory_parties("adv-strict", {GUEST: "guest", HOST: "host"})
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

    monkeypatch.setattr(protocol, "generate_keypair", generate)
    monkeypatch.setattr(paillier_private.PaillierPrivateKey, "raw_decrypt_many", decrypt)
    sent: list[mpz] = []
    real_send = parties[malicious].send

    def send(dst: str, tag: str, obj: object) -> None:
        if tag == message and not sent:
            public, private = keys[owner]
            value = CRAFTED[crafted](public.n, private.p)
            obj, done = _tamper(obj, lambda _c: value)
            if done:
                sent.append(value)
        real_send(dst, tag, obj)

    parties[malicious].send = send  # type: ignore[method-assign]

    def run(pid: str) -> Callable[[], object]:
        def fn() -> object:
            threading.current_thread().name = pid
            with parties[pid]:
                model = HeteroLogisticRegression(party=parties[pid], key_length=1024, max_iter=1, batch_size=80,
                                                 random_state=1, optimizer="sgd", privacy="strict", timeout=60)  # fmt: skip
                return model.fit(data[pid], data["y"] if pid == GUEST else None)

        return fn

    out = run_parties({pid: run(pid) for pid in (GUEST, HOST)}, timeout=120)
    assert sent, f"party {malicious} never sent {message}: the case tests nothing"
    return {"out": out, "value": sent[0], "decrypted": decrypted, "keys": keys}


@pytest.mark.parametrize("crafted", list(CRAFTED))
@pytest.mark.parametrize(("malicious", "message", "owner"), STRICT_PATHS)
def test_crafted_ciphertext_on_a_strict_path_fails_every_party_and_is_never_decrypted(
    breast,  # noqa: F811 - the imported fixture
    malicious,
    message,
    owner,
    crafted,
    monkeypatch,
):
    result = strict_attack(breast, malicious, message, owner, crafted, monkeypatch)
    victim = GUEST if malicious == HOST else HOST
    refused, told = result["out"][victim], result["out"][malicious]
    assert isinstance(refused, MalformedCiphertextError), refused
    assert f"party {malicious} sent malformed" in str(refused) and message in str(refused)
    assert result["keys"][owner][0].fingerprint in str(refused)
    assert isinstance(told, PeerFailed) and "MalformedCiphertextError" in str(told), told
    assert result["value"] not in result["decrypted"]
