"""Errors of the TEE mode; each names the party, the check and what was seen."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import CryptoError, PowerFLError

NOT_CONFIDENTIAL = "NOT CONFIDENTIAL (simulated enclave: no hardware protects this data)"


class AttestationRefused(PowerFLError):
    """Evidence did not verify or does not satisfy a data owner's policy: no key is released."""

    def __init__(self, party_id: str, check: str, detail: str) -> None:
        super().__init__(f"party {party_id} refuses to release its data key: {check}: {detail}")
        self.party_id = party_id
        self.check = check


class SealError(CryptoError):
    """A sealed slice or wrapped key does not open (wrong key, altered bytes or another context)."""
