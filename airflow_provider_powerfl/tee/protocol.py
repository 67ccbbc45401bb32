"""A data owner's side of a TEE job over the signed channel: challenge, verify, release, receive.

Messages (federation Party, signed and nonce-bound like every other): owner -> enclave host ``tee/challenge``
(a fresh nonce and the operation the owner's own spec names); host -> owner ``tee/evidence``; owner -> host
``tee/release`` (the data key wrapped to the attested app key and the sealed slices, or the refusal); host ->
owner ``tee/result`` (the owner's outputs sealed under its own data key, or the enclave's error). Only nonces,
evidence, wrapped keys and AES-GCM ciphertexts cross; a refusal at any owner ends the job at every party.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, AttestationRefused
from airflow_provider_powerfl.tee.evidence import Evidence
from airflow_provider_powerfl.tee.owner import open_result, seal_slices
from airflow_provider_powerfl.tee.release import KeyOwner
from airflow_provider_powerfl.tee.sealing import Slice, context

CHALLENGE, EVIDENCE, RELEASE, RESULT = "tee/challenge", "tee/evidence", "tee/release", "tee/result"
log = logging.getLogger(__name__)


class Channel(Protocol):
    party_id: str
    job_id: str

    def send(self, dst: str, tag: str, obj: object) -> None: ...
    def recv(self, src: str, tag: str, timeout: float | None = None) -> object: ...


class EnclaveJobFailed(PowerFLError):
    """The enclave host reported a failure (another owner's refusal, or the enclave's own error)."""


def _expect(obj: object, keys: dict[str, type], sender: str, tag: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != set(keys) or not all(isinstance(obj[k], t) for k, t in keys.items()):
        raise MalformedMessage(f"{sender} sent a malformed {tag}: expected fields {sorted(keys)}")
    return obj


def release_to_enclave(party: Channel, enclave_host: str, owner: KeyOwner, operation: str, slices: dict[str, Slice],
                       timeout: float = 600.0) -> dict[str, Any]:  # fmt: skip
    """This owner's opened results, after its key went only to an enclave its policy accepts."""
    job, me = party.job_id, party.party_id
    party.send(enclave_host, CHALLENGE, {"nonce": owner.challenge(), "operation": operation})
    answer = party.recv(enclave_host, EVIDENCE, timeout)
    if isinstance(answer, dict) and set(answer) == {"error"}:
        raise EnclaveJobFailed(f"TEE job {job}: the enclave at {enclave_host} did not attest: {answer['error']}")
    evidence = Evidence.from_dict(answer, enclave_host)
    data_key, sealed = seal_slices(job, me, operation, slices)
    try:
        release = owner.release(
            evidence, requester=enclave_host, operation=operation, data_key=data_key, aad=context(job, me, operation)
        )
    except AttestationRefused as exc:
        party.send(enclave_host, RELEASE, {"refused": str(exc)})
        raise
    if not release.confidential:
        log.warning("%s: party %s's data goes to a simulated enclave", NOT_CONFIDENTIAL, me)
    party.send(enclave_host, RELEASE, {"wrapped_key": release.wrapped_key, "sealed": sealed})
    answer = party.recv(enclave_host, RESULT, timeout)
    if isinstance(answer, dict) and set(answer) == {"error"}:
        raise EnclaveJobFailed(f"TEE job {job} failed at the enclave host {enclave_host}: {answer['error']}")
    result = open_result(_expect(answer, {"sealed": bytes}, enclave_host, RESULT)["sealed"], data_key, job, me, operation)
    if not result["confidential"]:
        log.warning("%s: party %s's result: %s", NOT_CONFIDENTIAL, me, {k: v for k, v in result.items() if k == "auc"})
    return result


def expect_challenge(obj: object, sender: str, operation: str) -> bytes:
    """An owner's challenge, checked: its nonce, for the operation this job runs."""
    msg = _expect(obj, {"nonce": bytes, "operation": str}, sender, CHALLENGE)
    if msg["operation"] != operation:
        raise MalformedMessage(f"{sender} asks for operation {msg['operation']!r}, this job runs {operation!r}")
    return msg["nonce"]


def expect_release(obj: object, sender: str) -> dict[str, Any]:
    """An owner's release (wrapped key and sealed train/test slices), or EnclaveJobFailed with its refusal."""
    if isinstance(obj, dict) and set(obj) == {"refused"}:
        raise EnclaveJobFailed(f"party {sender} refused: {obj['refused']}")
    msg = _expect(obj, {"wrapped_key": bytes, "sealed": dict}, sender, RELEASE)
    if set(msg["sealed"]) != {"train", "test"} or not all(isinstance(v, bytes) for v in msg["sealed"].values()):
        raise MalformedMessage(f"{sender} sent a malformed {RELEASE}: sealed must hold bytes for train and test")
    return {"party_id": sender, "wrapped_key": msg["wrapped_key"], "sealed": msg["sealed"]}
