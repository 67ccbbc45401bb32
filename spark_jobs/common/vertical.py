"""What the vertical steps (align, train, predict) share: row checks, local output paths, result.json.

``result.json`` is the contract with the Airflow operators (operators/step.py):
``outputs`` (input name -> data spec a downstream step can read), ``model``
(this party's model reference, passed on as ``params.model``) and ``metrics``
(scalars, shown in the task log and XCom).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.jobs.contract import RESULT_FILE
from airflow_provider_powerfl.jobs.params import ModelRef
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.models import LoadedModel, load_model
from spark_jobs.common.output import Staging


def rows_digest(job_id: str, ids: np.ndarray) -> bytes:
    """SHA-256 of the ordered ids (job-separated): equal at two parties iff their rows line up."""
    h = hashlib.sha256(f"powerfl/rows/v1\0{job_id}\0".encode())
    for value in ids:
        h.update(str(value).encode("utf-8"))
        h.update(b"\0")
    return h.digest()


def check_same_rows(party: Party, ids: np.ndarray, input_name: str, timeout: float) -> None:
    """Refuse to go on unless every party holds the same ids in the same order (aligned inputs).

    The guest sends a digest of its ordered ids; each host answers whether its own matches,
    so both sides fail with a clear error instead of training on misaligned rows.
    """
    tag = f"rows/{input_name}"
    mine = rows_digest(party.job_id, ids)
    if party.role == "guest":
        for host in party.peers("host"):
            party.send(host, tag, mine)
        bad = []
        for host in party.peers("host"):
            answer = party.recv(host, tag, timeout=timeout)
            if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
                raise FederationError(f"party {host} sent a malformed {tag} answer in job {party.job_id!r}")
            if not answer["ok"]:
                bad.append(host)
        if bad:
            raise DataError(
                f"input {input_name!r}: the rows of host(s) {', '.join(bad)} differ from the guest's "
                f"({len(ids)} rows here): give every party the outputs of the same align step"
            )
        return
    guest = party.peers("guest")[0]
    theirs = party.recv(guest, tag, timeout=timeout)
    ok = theirs == mine
    party.send(guest, tag, {"ok": ok})
    if not ok:
        raise DataError(
            f"input {input_name!r}: this party's {len(ids)} rows differ from guest {guest}'s (ids or order): "
            "give every party the outputs of the same align step"
        )


def local_path(staging: Staging, name: str) -> Path:
    """A local path inside the staging dir, for writers that are not Spark (models, reports)."""
    uri = staging.uri(name)
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ConfigError(f"outputs.dir: {uri} is not on a local file system; this step writes {name!r} with local files")
    return Path(parsed.path)


def output_uri(spec: TaskSpec, name: str) -> str:
    """The final URI of ``name`` inside ``outputs.dir`` (where it is once the staging dir is renamed)."""
    return f"{spec.outputs.dir.rstrip('/')}/{name}"


def write_result(
    staging: Staging, outputs: dict[str, Any] | None = None, model: Any = None, metrics: dict[str, Any] | None = None
) -> None:
    staging.write_json(RESULT_FILE, {"outputs": outputs or {}, "model": model, "metrics": metrics or {}})


def binary_labels(y: np.ndarray, uri: str) -> tuple[np.ndarray, str]:
    """Labels as 0/1 and how they were read: ``0/1``, or ``-1/+1`` (LIBSVM's, -1 becomes 0)."""
    values = set(np.unique(y).tolist())
    if values <= {0.0, 1.0}:
        return y, "0/1"
    if values <= {-1.0, 1.0}:
        return (y > 0).astype(np.float64), "-1/+1"
    shown = ", ".join(f"{v:g}" for v in sorted(values)[:5])
    raise DataError(f"{uri}: label column must hold 0/1 (or -1/+1), found {shown}")


def fit_scaler(X: np.ndarray, enabled: bool) -> dict[str, Any]:
    """This party's own standardization (mean/std of its training columns; constant columns kept as they are)."""
    if not enabled:
        return {"standardize": False}
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return {"standardize": True, "mean": X.mean(axis=0).tolist(), "std": std.tolist()}


def apply_scaler(X: np.ndarray, encoding: dict[str, Any]) -> np.ndarray:
    if not encoding.get("standardize"):
        return X
    return (X - np.asarray(encoding["mean"])) / np.asarray(encoding["std"])


def load_own_model(spec: TaskSpec, ref: ModelRef | None, algorithm: str | None = None) -> LoadedModel:
    """This party's model named by ``params.model`` (the ``model`` of the saving step's ``result.json``)."""
    if ref is None:
        raise ConfigError(
            "params.model: missing: this party's model reference {root, model_id, version} from the step that saved it"
        )
    model = load_model(ref.root, ref.model_id, ref.version or "latest")
    if model.party_id != spec.party_id or model.role != spec.role:
        raise ConfigError(
            f"params.model: {model.ref} belongs to party {model.party_id} ({model.role}), not to {spec.party_id} ({spec.role})"
        )
    if algorithm is not None and model.algorithm != algorithm:
        raise ConfigError(f"params.model: {model.ref} is a {model.algorithm!r} model, not {algorithm!r}")
    return model
