"""The TEE job's messages in memory (same codec, signing and checks as Kafka): one owner's refusal ends the job
at every party with its reason, and no plaintext crosses. The enclave stand-in runs the real app in-process."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from airflow_provider_powerfl.federation.memory import memory_parties
from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import AttestationRefused
from airflow_provider_powerfl.tee.protocol import EnclaveJobFailed, release_to_enclave
from airflow_provider_powerfl.tee.release import KeyOwner
from airflow_provider_powerfl.tee.sealing import Slice
from airflow_provider_powerfl.tee.simulated import Measurement, SimulatedAttester
from enclave import app
from enclave.serve import serve_job
from tests.unit.tee.tee_fixtures import ENCLAVE_HOST, MR_ENCLAVE, MR_SIGNER, policy

GUEST, HOST = "10000", "20000"


class InProcessEnclave:
    """EnclaveProcess's interface over the real app, without the process (the Kafka test runs the process)."""

    def __init__(self) -> None:
        self._key = X25519PrivateKey.generate()
        self._attester = SimulatedAttester(Measurement(MR_ENCLAVE.hex(), MR_SIGNER.hex()))

    def attest(self, job_id, operation, params, nonces):
        self._job = (job_id, operation, params)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {pid: self._attester.evidence(public, nonce) for pid, nonce in nonces.items()}

    def run(self, owners):
        inputs = [app.OwnerInput(o["party_id"], o["wrapped_key"], o["sealed"]) for o in owners]
        return app.run(self._key, *self._job, inputs, False)


def _slices() -> dict[str, dict[str, Slice]]:
    rng = np.random.default_rng(3)
    X, ids = rng.normal(size=(120, 4)), np.array([f"customer-{i:05d}" for i in range(120)])
    y = (X[:, 0] + X[:, 2] > 0).astype(np.float64)
    return {GUEST: {s: Slice(ids[r], X[r, :2], y[r]) for s, r in (("train", slice(0, 90)), ("test", slice(90, None)))},
            HOST: {s: Slice(ids[r], X[r, 2:]) for s, r in (("train", slice(0, 90)), ("test", slice(90, None)))}}  # fmt: skip


def _job(policies: dict[str, object]) -> tuple[dict[str, object], list[bytes]]:
    wire: list[bytes] = []
    parties = memory_parties("tee-job", {GUEST: "guest", HOST: "host", ENCLAVE_HOST: "arbiter"}, capture=wire)
    slices, out = _slices(), {}

    def go(pid: str) -> None:
        try:
            if pid == ENCLAVE_HOST:
                serve_job(parties[pid], [GUEST, HOST], InProcessEnclave(), "train_lr", {}, timeout=60)
            else:
                owner = KeyOwner(pid, policies[pid], DcapVerifier())
                out[pid] = release_to_enclave(parties[pid], ENCLAVE_HOST, owner, "train_lr", slices[pid], 60)
        except Exception as exc:  # re-raised by the test
            out[pid] = exc

    threads = [threading.Thread(target=go, args=(p,), daemon=True) for p in (GUEST, HOST, ENCLAVE_HOST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out, wire


def test_the_job_gives_each_owner_its_result_and_only_ciphertexts_cross() -> None:
    out, wire = _job({GUEST: policy(accept_simulated=True), HOST: policy(accept_simulated=True)})
    assert out[GUEST]["auc"] == out[HOST]["auc"] and "weights" in out[HOST], out
    blob = b"".join(wire)
    for parts in _slices().values():
        for part in parts.values():
            assert all(np.ascontiguousarray(row).tobytes() not in blob for row in part.features)
            assert all(i.encode() not in blob for i in part.ids)


def test_one_owners_refusal_ends_the_job_at_every_party_with_its_reason() -> None:
    out, _ = _job({GUEST: policy(accept_simulated=True), HOST: policy()})  # the host refuses simulated evidence
    assert isinstance(out[HOST], AttestationRefused) and out[HOST].check == "simulated evidence"
    assert isinstance(out[ENCLAVE_HOST], Exception) and "party 20000 refused" in str(out[ENCLAVE_HOST])
    assert isinstance(out[GUEST], EnclaveJobFailed) and "party 20000 refused" in str(out[GUEST])


def test_an_operation_the_owner_did_not_ask_for_is_refused_by_the_host() -> None:
    with pytest.raises(Exception, match="train_gbdt"):
        from airflow_provider_powerfl.tee.protocol import expect_challenge

        expect_challenge({"nonce": bytes(32), "operation": "train_gbdt"}, GUEST, "train_lr")
