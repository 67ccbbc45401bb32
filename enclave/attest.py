"""The enclave's attester: Gramine's DCAP quote where the hardware is, the simulated one elsewhere.

Under Gramine with ``sgx.remote_attestation = "dcap"``, writing 64 bytes to ``/dev/attestation/user_report_data``
and reading ``/dev/attestation/quote`` yields a quote whose report data are those bytes, signed by the platform's
quoting enclave. The collateral (Intel's signed TCB info, QE identity, CRLs) is public and fetched outside the
enclave by the host from a PCCS; the data owner's verifier checks every signature on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from airflow_provider_powerfl.tee.evidence import Evidence, report_data_for
from airflow_provider_powerfl.tee.simulated import Measurement, SimulatedAttester

ATTESTATION = Path("/dev/attestation")


class Attester(Protocol):
    platform: str

    def evidence(self, app_public_key: bytes, nonce: bytes) -> Evidence: ...


class GramineAttester:
    """A DCAP quote from Gramine's attestation pseudo-files; collateral is added by the host."""

    platform = "sgx-dcap"

    def evidence(self, app_public_key: bytes, nonce: bytes) -> Evidence:
        (ATTESTATION / "user_report_data").write_bytes(report_data_for(app_public_key, nonce))
        quote = (ATTESTATION / "quote").read_bytes()
        return Evidence("sgx-dcap", app_public_key, nonce, quote=quote)


def attester(measured: dict[str, Any]) -> Attester:
    """Gramine's on SGX with DCAP; otherwise the simulated attester stating the measured identity."""
    kind = ATTESTATION / "attestation_type"
    if kind.is_file() and kind.read_text().strip() == "dcap":
        return GramineAttester()
    identity = Measurement(measured["mr_enclave"], measured["mr_signer"], int(measured["isv_prod_id"]), int(measured["isv_svn"]))
    return SimulatedAttester(identity)
