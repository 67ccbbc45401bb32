"""The data owner's side: challenge the enclave, check its evidence against this party's policy, release the key.

Checks, in order, each an :class:`AttestationRefused` naming it: the requesting party and the operation are
granted; the evidence answers a nonce this owner issued and has not seen answered (replay); the platform's proof
verifies (DCAP) or, if simulated, the policy explicitly accepts simulation; the report data binds the app key
to that nonce; debug is off; MRENCLAVE, MRSIGNER, product id, ISV SVN and TCB status are the policy's.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, AttestationRefused
from airflow_provider_powerfl.tee.evidence import NONCE_BYTES, Claims, Evidence, report_data_for
from airflow_provider_powerfl.tee.policy import TeePolicy
from airflow_provider_powerfl.tee.sealing import wrap_key
from airflow_provider_powerfl.tee.simulated import simulated_claims

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Release:
    """A data key wrapped to an attested enclave, and whether the attestation was real."""

    wrapped_key: bytes
    claims: Claims

    @property
    def confidential(self) -> bool:
        return self.claims.platform != "simulated"


def check_claims(policy: TeePolicy, claims: Claims, party_id: str) -> None:
    """Refuse claims outside the policy (debug always)."""

    def refuse(check: str, detail: str) -> AttestationRefused:
        return AttestationRefused(party_id, check, detail)

    if claims.debug:
        raise refuse("debug", "the enclave runs in debug mode (its memory is readable by the host)")
    if claims.mr_enclave not in policy.allowed_mr_enclave:
        raise refuse("MRENCLAVE", f"{claims.mr_enclave} is not in allowed_mr_enclave")
    if claims.mr_signer not in policy.allowed_mr_signer:
        raise refuse("MRSIGNER", f"{claims.mr_signer} is not in allowed_mr_signer")
    if policy.isv_prod_id is not None and claims.isv_prod_id != policy.isv_prod_id:
        raise refuse("ISV product id", f"{claims.isv_prod_id}, policy requires {policy.isv_prod_id}")
    if claims.isv_svn < policy.min_isv_svn:
        raise refuse("ISV SVN", f"{claims.isv_svn} below min_isv_svn={policy.min_isv_svn}")
    if claims.platform == "sgx-dcap" and claims.tcb_status not in policy.allowed_tcb_statuses:
        raise refuse("TCB status", f"{claims.tcb_status} is not in allowed_tcb_statuses {policy.allowed_tcb_statuses}")
    rejected = sorted(set(claims.advisory_ids) & set(policy.rejected_advisories))
    if rejected:
        raise refuse("TCB advisories", f"the platform is affected by {', '.join(rejected)}")


class KeyOwner:
    """One data owner's key release; a nonce is answered at most once."""

    def __init__(self, party_id: str, policy: TeePolicy, verifier: DcapVerifier) -> None:
        self.party_id = party_id
        self.policy = policy
        self._verifier = verifier
        self._issued: set[bytes] = set()
        self._answered: set[bytes] = set()

    def challenge(self) -> bytes:
        """A fresh nonce the enclave's evidence must bind."""
        nonce = os.urandom(NONCE_BYTES)
        self._issued.add(nonce)
        return nonce

    def claims(self, evidence: Evidence) -> Claims:
        """Verified claims of ``evidence`` (nonce consumed, platform proof checked, binding checked)."""

        def refuse(check: str, detail: str) -> AttestationRefused:
            return AttestationRefused(self.party_id, check, detail)

        if evidence.nonce in self._answered:
            raise refuse("replayed nonce", "this evidence answers a nonce already used")
        if evidence.nonce not in self._issued:
            raise refuse("unknown nonce", "this evidence answers no nonce this party issued")
        self._issued.discard(evidence.nonce)
        self._answered.add(evidence.nonce)
        if evidence.platform == "simulated":
            if not self.policy.accept_simulated:
                raise refuse("simulated evidence", "no hardware attestation; the policy does not set accept_simulated")
            claims = simulated_claims(evidence, self.party_id)
        else:
            claims = self._verifier.verify(evidence.quote, evidence.collateral, self.party_id)
        if claims.report_data != report_data_for(evidence.app_public_key, evidence.nonce):
            raise refuse("key binding", "the report data is not sha256(app public key || nonce): evidence not bound to this key")
        return claims

    def release(self, evidence: Evidence, *, requester: str, operation: str, data_key: bytes, aad: bytes) -> Release:
        """The data key wrapped to the evidence's app key, if every check passes."""
        if requester not in self.policy.allowed_parties:
            raise AttestationRefused(self.party_id, "party", f"{requester} is not in allowed_parties")
        if operation not in self.policy.allowed_operations:
            raise AttestationRefused(self.party_id, "operation", f"{operation} is not in allowed_operations")
        claims = self.claims(evidence)
        check_claims(self.policy, claims, self.party_id)
        if claims.platform == "simulated":
            log.warning("%s: party %s releases its key to a simulated enclave", NOT_CONFIDENTIAL, self.party_id)
        return Release(wrapped_key=wrap_key(data_key, evidence.app_public_key, aad), claims=claims)
