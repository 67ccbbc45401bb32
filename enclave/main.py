"""The enclave process's entry (run by the loader): attest, receive the released inputs, run the app, answer.

It speaks JSON lines over stdin/stdout with the untrusted host (``enclave.host``), bytes as hex. The X25519 app
key is generated here and never leaves; the host only ever handles evidence, wrapped keys and sealed bytes.

1. host -> enclave: ``{"job_id", "operation", "params", "nonces": {party: nonce}}``
2. enclave -> host: ``{"app_public_key", "platform", "evidence": {party: evidence}}``
3. host -> enclave: ``{"owners": [{"party_id", "wrapped_key", "sealed": {"train", "test"}}]}``
4. enclave -> host: ``{"results": {party: sealed result}}`` or ``{"error": reason}``
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL
from enclave import app
from enclave.attest import attester
from enclave.wire import from_wire, to_wire

log = logging.getLogger("enclave")


def _read() -> Any:
    line = sys.stdin.readline()
    if not line:
        raise PowerFLError("the host closed the enclave's input")
    return from_wire(json.loads(line))


def _write(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_wire(obj)) + "\n")
    sys.stdout.flush()


def _logging(confidential: bool) -> None:
    prefix = "" if confidential else f"{NOT_CONFIDENTIAL} | "
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"{prefix}enclave %(levelname)s %(message)s", force=True)


def serve(measured: dict[str, Any]) -> int:
    """One job: evidence for each owner's nonce, then the app on what the owners released."""
    source = attester(measured)
    confidential = source.platform != "simulated"
    _logging(confidential)
    request = _read()
    key = X25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    evidence = {pid: source.evidence(public, nonce).to_dict() for pid, nonce in request["nonces"].items()}
    log.info("attested to %s on platform %s", ", ".join(sorted(evidence)), source.platform)
    _write({"app_public_key": public, "platform": source.platform, "evidence": evidence})
    released = _read()
    owners = [app.OwnerInput(o["party_id"], o["wrapped_key"], o["sealed"]) for o in released["owners"]]
    try:
        results = app.run(key, request["job_id"], request["operation"], request["params"], owners, confidential)
    except PowerFLError as exc:
        log.error("refused: %s", exc)
        _write({"error": str(exc)})
        return 1
    _write({"results": results})
    return 0


def main(measured_path: str) -> int:
    with open(measured_path, encoding="utf-8") as handle:
        return serve(json.load(handle))
