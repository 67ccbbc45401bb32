"""The untrusted host of the enclave process: launches it through the loader and relays only ciphertexts.

The host sees nonces, evidence, wrapped keys and sealed slices and results: nothing it could read. A refused
start (a trusted file differs) or an app failure ends the process; the host raises with the enclave's reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.tee.evidence import Evidence
from enclave.wire import from_wire, to_wire

ROOT = Path(__file__).resolve().parents[1]


class EnclaveFailed(PowerFLError):
    """The enclave process refused to start or failed; carries its own reason."""


class EnclaveProcess:
    """One enclave process for one job (``with EnclaveProcess(measured) as enclave: ...``)."""

    def __init__(self, measured: Path, env: dict[str, str] | None = None) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "enclave.loader", str(measured)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)},
        )  # fmt: skip

    def __enter__(self) -> EnclaveProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self) -> str:
        """What the enclave process wrote to stderr (its log lines)."""
        self._stderr.seek(0)
        return self._stderr.read()

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(to_wire(message)) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the process is gone: its reason is on stderr
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=60)
            raise EnclaveFailed(f"enclave process exited {self._proc.returncode}: {self.log().strip()[-2000:]}")
        answer = from_wire(json.loads(line))
        if "error" in answer:
            raise EnclaveFailed(f"enclave refused: {answer['error']}")
        return answer

    def attest(self, job_id: str, operation: str, params: dict[str, Any], nonces: dict[str, bytes]) -> dict[str, Evidence]:
        """Evidence per owner, each answering that owner's nonce and binding the enclave's one app key."""
        answer = self._exchange({"job_id": job_id, "operation": operation, "params": params, "nonces": nonces})
        return {pid: Evidence.from_dict(e, "the enclave") for pid, e in answer["evidence"].items()}

    def run(self, owners: list[dict[str, Any]]) -> dict[str, bytes]:
        """Sealed results per owner, from ``[{"party_id", "wrapped_key", "sealed": {split: bytes}}]``."""
        return self._exchange({"owners": owners})["results"]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=60)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()
