"""A malicious peer sends crafted ciphertexts on every path of hetero LR's privacy='strict' mode.

The pattern of test_crafted_ciphertexts.py: the real protocol over in-memory parties, one party's ``send``
replaced so that one message carries a crafted value in place of its first ciphertext. The honest receiver
raises MalformedCiphertextError naming sender, message and key before it decrypts or computes on it; the
other party stops with PeerFailed; the crafted value never reaches a decryption.
"""

from __future__ import annotations

import pytest

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.federation.errors import PeerFailed
from tests.adversarial.test_crafted_ciphertexts import CRAFTED, GUEST, HOST, attack, breast  # noqa: F401 - fixture

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


def _fit_strict(party, X, y) -> object:
    model = HeteroLogisticRegression(party=party, key_length=1024, max_iter=1, batch_size=80, random_state=1,
                                     optimizer="sgd", privacy="strict", timeout=60)  # fmt: skip
    return model.fit(X, y)


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
    result = attack("hetero_lr_strict", breast, malicious, message, owner, crafted, monkeypatch, fit=_fit_strict)
    victim = GUEST if malicious == HOST else HOST
    refused, told = result["out"][victim], result["out"][malicious]
    assert isinstance(refused, MalformedCiphertextError), refused
    assert f"party {malicious} sent malformed" in str(refused) and message in str(refused)
    assert result["keys"][owner][0].fingerprint in str(refused)
    assert isinstance(told, PeerFailed) and "MalformedCiphertextError" in str(told), told
    assert result["value"] not in result["decrypted"]
