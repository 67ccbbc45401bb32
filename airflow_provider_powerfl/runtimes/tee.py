"""The ``tee`` runtime: the enclave host process, ``python -m enclave.serve SPEC.json``, as a local child process.

Launched like the local runtime's spark-submit (its own process group, output streamed to the task log, the
``POWERFL-ERROR:`` line as the failure reason). The host process relays over the party's signed Kafka channel and
starts the enclave process through the loader (docs/tee.md). The ``enclave`` package is located with
``find_spec``, never imported: the provider does not import the trusted app.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.local import LocalProcess
from airflow_provider_powerfl.tee.policy import OPERATIONS


def enclave_checkout() -> Path:
    """The directory holding the ``enclave`` package."""
    found = importlib.util.find_spec("enclave")
    if found is None or not found.submodule_search_locations:
        raise ConfigError("the enclave package is not importable: install airflow-provider-powerfl from a checkout")
    return Path(next(iter(found.submodule_search_locations))).parent


def write_host_spec(path: Path, *, party_id: str, registry_path: str, private_key_path: str, job_id: str, attempt: int,
                    nonce: bytes, roles: Mapping[str, str], measured: str, operation: str, params: dict[str, Any],
                    pccs_url: str | None = None) -> Path:  # fmt: skip
    """The enclave host's spec: who it is on the channel, the job, the measured enclave and what it computes."""
    if operation not in OPERATIONS:
        raise ConfigError(f"tee runtime: operation must be one of {OPERATIONS}, got {operation!r}")
    if not Path(measured).is_file():
        raise ConfigError(f"tee runtime: measured manifest {measured} does not exist (python -m enclave.measure makes it)")
    spec = {
        "party_id": party_id, "registry_path": registry_path, "private_key_path": private_key_path, "job_id": job_id,
        "attempt": attempt, "nonce": nonce.hex(), "roles": dict(roles), "measured": measured, "operation": operation,
        "params": params, "pccs_url": pccs_url,
    }  # fmt: skip
    path.write_text(json.dumps(spec, indent=1))
    path.chmod(0o600)
    return path


def host_process(spec: Path, env: Mapping[str, str] | None = None) -> LocalProcess:
    """The enclave host as a local process (``run`` streams its log lines; ``kill`` stops its group)."""
    root = enclave_checkout()
    environ = dict(os.environ if env is None else env)
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), environ.get("PYTHONPATH", "")) if p)
    return LocalProcess([sys.executable, "-m", "enclave.serve", str(spec)], root, environ)
