"""What the TEE tests share: an enclave app key, a test-chain platform, an owner's policy for them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.evidence import Evidence, report_data_for
from airflow_provider_powerfl.tee.policy import TeePolicy
from airflow_provider_powerfl.tee.release import KeyOwner
from tests.unit.tee.sgx_test_chain import SgxTestChain

MR_ENCLAVE, MR_SIGNER = bytes(range(32)), bytes(range(100, 132))
OWNER, ENCLAVE_HOST = "10000", "30000"


def app_key() -> tuple[X25519PrivateKey, bytes]:
    key = X25519PrivateKey.generate()
    return key, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def policy(**overrides: object) -> TeePolicy:
    """The owner's policy granting the test enclave's identity, the enclave host and training."""
    fields = {
        "allowed_mr_enclave": (MR_ENCLAVE.hex(),), "allowed_mr_signer": (MR_SIGNER.hex(),),
        "allowed_parties": (ENCLAVE_HOST,), "allowed_operations": ("train_lr", "train_gbdt"), **overrides,
    }  # fmt: skip
    return TeePolicy.model_validate(fields)


@dataclass
class Platform:
    """A test-chain SGX platform at ``now`` and an owner trusting its root."""

    chain: SgxTestChain
    now: dt.datetime

    def owner(self, owner_policy: TeePolicy | None = None) -> KeyOwner:
        verifier = DcapVerifier(self.chain.root_der(), clock=self.now.timestamp)
        return KeyOwner(OWNER, owner_policy or policy(), verifier)

    def evidence(self, public: bytes, nonce: bytes, *, bound_to: bytes | None = None, tcb_status: str = "UpToDate",
                 **quote: object) -> Evidence:  # fmt: skip
        """Evidence for ``public`` answering ``nonce``; ``bound_to`` puts another key in the report data."""
        fields = {"mr_enclave": MR_ENCLAVE, "mr_signer": MR_SIGNER, **quote}
        report_data = report_data_for(bound_to or public, nonce)
        raw = self.chain.quote(report_data=report_data, **fields)  # type: ignore[arg-type]
        return Evidence("sgx-dcap", public, nonce, quote=raw, collateral=self.chain.collateral(tcb_status))


def platform(**chain: bool) -> Platform:
    now = dt.datetime.now(dt.UTC)
    return Platform(SgxTestChain(now, **chain), now)
