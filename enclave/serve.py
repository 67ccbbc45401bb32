"""The enclave host's side of a TEE job: relay between the owners (signed Kafka channel) and the enclave process.

``python -m enclave.serve SPEC.json`` is what the ``tee`` runtime launches: the spec names this party, its
registry and signing key, the job (id, attempt, run nonce, parties), the measured manifest, the operation and
its parameters. The host only relays: owners' nonces in, evidence out, wrapped keys and sealed slices in, sealed
results out; a refusal at any owner, or the enclave's failure, is sent to every owner and fails this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import dcap_qvl

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.tee.protocol import CHALLENGE, EVIDENCE, RELEASE, RESULT, Channel, expect_challenge, expect_release
from enclave.host import EnclaveProcess

log = logging.getLogger("enclave.serve")


def _with_collateral(evidence: dict[str, Any], pccs_url: str | None) -> dict[str, Any]:
    """A DCAP quote's collateral from the PCCS (public, Intel-signed: the owners verify it); simulated: as is."""
    if evidence["platform"] != "sgx-dcap":
        return evidence
    if not pccs_url:
        raise PowerFLError("an SGX quote needs its collateral: set pccs_url in the enclave host's spec")
    collateral = asyncio.run(dcap_qvl.get_collateral(pccs_url, evidence["quote"]))
    return {**evidence, "collateral": collateral.to_json()}


def serve_job(party: Channel, owners: list[str], enclave: EnclaveProcess, operation: str, params: dict[str, Any],
              pccs_url: str | None = None, timeout: float = 600.0) -> None:  # fmt: skip
    """One job: every owner attested to, every owner's release collected, results (or the failure) to all."""
    nonces = {pid: expect_challenge(party.recv(pid, CHALLENGE, timeout), pid, operation) for pid in owners}
    try:
        attested = {
            pid: _with_collateral(e.to_dict(), pccs_url)
            for pid, e in enclave.attest(party.job_id, operation, params, nonces).items()
        }
    except PowerFLError as exc:  # e.g. the loader refused a tampered trusted file: the owners stop waiting
        for pid in owners:
            party.send(pid, EVIDENCE, {"error": str(exc)})
        raise
    for pid, evidence in attested.items():
        party.send(pid, EVIDENCE, evidence)
    try:
        inputs = []
        errors = []
        for pid in owners:  # every owner's answer is read, so each refusal is reported
            try:
                inputs.append(expect_release(party.recv(pid, RELEASE, timeout), pid))
            except PowerFLError as exc:
                errors.append(str(exc))
        if errors:
            raise PowerFLError("; ".join(errors))
        results = enclave.run(inputs)
    except PowerFLError as exc:
        for pid in owners:
            party.send(pid, RESULT, {"error": str(exc)})
        raise
    for pid in owners:
        party.send(pid, RESULT, {"sealed": results[pid]})
    log.info("job %s: %s results sealed to %s", party.job_id, operation, ", ".join(owners))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s enclave-host %(levelname)s %(message)s")
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    registry = PartyRegistry.from_yaml(spec["registry_path"])
    me = spec["party_id"]
    party = Party.from_registry(registry, me, SigningKey.from_file(spec["private_key_path"]), spec["job_id"], spec["attempt"],
                                spec["roles"], nonce=bytes.fromhex(spec["nonce"]))  # fmt: skip
    owners = sorted(p for p in spec["roles"] if p != me)
    try:
        with EnclaveProcess(Path(spec["measured"])) as enclave:
            try:
                serve_job(party, owners, enclave, spec["operation"], spec.get("params", {}), spec.get("pccs_url"))
            finally:
                sys.stderr.write(enclave.log())
    except PowerFLError as exc:
        print(f"POWERFL-ERROR: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        party.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
