"""A simulated attester for machines without SGX: same interface as a hardware one, never mistakable for it.

Its evidence says ``platform: simulated`` and carries the measurement the measurement tool computed and the
binding report data, but nothing signs it: anyone can forge it. A data owner's default policy refuses it;
``accept_simulated: true`` in the owner's own TEE policy accepts it, and then every log line and result of the
run says NOT CONFIDENTIAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, AttestationRefused
from airflow_provider_powerfl.tee.evidence import Claims, Evidence, report_data_for


@dataclass(frozen=True)
class Measurement:
    """An enclave's identity as the measurement tool computes it from the manifest's trusted files."""

    mr_enclave: str
    mr_signer: str
    isv_prod_id: int = 0
    isv_svn: int = 0


class SimulatedAttester:
    """Evidence with no hardware behind it: ``platform: simulated``."""

    platform = "simulated"

    def __init__(self, measurement: Measurement) -> None:
        self.measurement = measurement

    def evidence(self, app_public_key: bytes, nonce: bytes) -> Evidence:
        report = {
            "mr_enclave": self.measurement.mr_enclave, "mr_signer": self.measurement.mr_signer,
            "isv_prod_id": self.measurement.isv_prod_id, "isv_svn": self.measurement.isv_svn, "debug": False,
            "report_data": report_data_for(app_public_key, nonce).hex(), "notice": NOT_CONFIDENTIAL,
        }  # fmt: skip
        return Evidence(platform="simulated", app_public_key=app_public_key, nonce=nonce, simulated_report=report)


def simulated_claims(evidence: Evidence, party_id: str) -> Claims:
    """The claims a simulated report states (unverifiable by construction); its shape checked."""
    report: dict[str, Any] = evidence.simulated_report or {}
    try:
        return Claims(
            platform="simulated", mr_enclave=str(report["mr_enclave"]).lower(), mr_signer=str(report["mr_signer"]).lower(),
            isv_prod_id=int(report["isv_prod_id"]), isv_svn=int(report["isv_svn"]), debug=bool(report["debug"]),
            tcb_status="Simulated", advisory_ids=(), report_data=bytes.fromhex(str(report["report_data"])),
        )  # fmt: skip
    except (KeyError, ValueError, TypeError) as exc:
        raise AttestationRefused(party_id, "simulated evidence", f"malformed report ({exc})") from exc
