"""The ``enclave`` step: each data owner releases its aligned rows to an attested enclave (docs/tee.md).

At every data owner the task reads its aligned slices, challenges the enclave over the signed Kafka channel,
verifies the evidence against its own TEE policy (the file its ``powerfl`` connection's ``tee_policy_path``
names: never a job conf's), and releases its data key wrapped to the attested app key only if the policy
accepts; it then opens its own results. The party whose connection operates the step's ``enclave_party``
(connection field ``enclave_host``) also launches the enclave host process, the ``tee`` runtime
(``runtimes/tee.py``), as the local runtime launches a Spark step. A simulated enclave's results say NOT
CONFIDENTIAL in the task log, the XCom and ``result.json``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError, DataError, PowerFLError
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.hooks.party import PartyConnection
from airflow_provider_powerfl.jobs.contract import RESULT_FILE
from airflow_provider_powerfl.jobs.params import EnclaveParams, validate_step_params
from airflow_provider_powerfl.jobs.spec import DataSpec, TaskSpec
from airflow_provider_powerfl.operators.step import FederatedStepOperator, local_file
from airflow_provider_powerfl.orchestration.jobcontext import JobContext
from airflow_provider_powerfl.runtimes.local import LocalProcess
from airflow_provider_powerfl.runtimes.tee import host_process, write_host_spec
from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL
from airflow_provider_powerfl.tee.policy import TeePolicy, load_tee_policy
from airflow_provider_powerfl.tee.protocol import release_to_enclave
from airflow_provider_powerfl.tee.release import KeyOwner
from airflow_provider_powerfl.tee.sealing import Slice

ENCLAVE_ROLE = "arbiter"  # the enclave host's role on the job's channel: it holds no data


def owner_policy(party: PartyConnection) -> TeePolicy:
    """This party's TEE policy, from its own file; without one, no enclave gets its data."""
    if not party.tee_policy_path:
        raise ConfigError(
            f"connection {party.conn_id!r} field 'tee_policy_path': must name this party's TEE policy file to release "
            "data to an enclave (docs/tee.md)"
        )
    return load_tee_policy(Path(party.tee_policy_path))


def read_slice(data: DataSpec, what: str) -> Slice:
    """An aligned input (the align step's parquet): ids, its feature columns, and the label at the label owner."""
    import pyarrow.parquet as pq

    path = local_file(data.uri, "")
    if path is None:
        raise DataError(f"{what}: the enclave step reads local aligned data, got {data.uri}")
    table = pq.read_table(path)
    names = list(data.features or [c for c in table.column_names if c not in (data.id_column, data.label_column)])
    try:
        ids = table.column(data.id_column).to_numpy(zero_copy_only=False).astype(str)
        features = table.select(names).to_pandas().to_numpy(dtype="float64")
        labels = None if data.label_column is None else table.column(data.label_column).to_numpy().astype("float64")
    except KeyError as exc:
        raise DataError(f"{what}: {data.uri} lacks column {exc}") from exc
    return Slice(ids, features, labels)


class FederatedEnclaveOperator(FederatedStepOperator):
    """
    This party's side of an ``enclave`` step (jobs.params.EnclaveParams): release to an attested enclave, and,
    at the party operating the enclave host, launch it.

    Returns (XCom) the step result; ``metrics`` hold the test AUC, ``confidential`` and, for a simulated enclave,
    ``notice`` (NOT CONFIDENTIAL); ``model`` this party's opened result file.
    """

    ui_color = "#e8e4f0"
    step = "enclave"

    def launch(self, context: Any, jc: JobContext, spec: TaskSpec, runtime: str, what: str) -> None:
        params = validate_step_params(self.step, spec.params, "params")
        assert isinstance(params, EnclaveParams)
        party = jc.party
        policy = owner_policy(party)
        roles = {p.id: p.role for p in spec.parties}
        if params.enclave_party in roles:
            raise ConfigError(f"params.enclave_party: {params.enclave_party} is a data owner of this job, not an enclave host")
        roles[params.enclave_party] = ENCLAVE_ROLE
        jc.registry.get(params.enclave_party)  # ConfigError naming it when the registry does not hold it
        channel = f"{spec.job_id}.{params.channel or self.step}"
        slices = {split: read_slice(spec.inputs[name], f"input {name}") for split, name in self._inputs(spec, params).items()}
        host = self._start_host(party, spec, params, roles, channel, what)
        try:
            me = Party.from_registry(jc.registry, spec.party_id, jc.signing_key, channel, spec.attempt, roles,
                                     nonce=bytes.fromhex(spec.nonce), silence_timeout=params.silence_timeout)  # fmt: skip
            try:
                owner = KeyOwner(spec.party_id, policy, DcapVerifier())
                result = release_to_enclave(me, params.enclave_party, owner, params.operation, slices, params.timeout)
            finally:
                me.close()
        except BaseException:
            if host is not None:
                host.process.kill()
            raise
        finally:
            if host is not None:
                host.thread.join(timeout=120)
        if host is not None and host.errors:
            raise host.errors[0]
        self._write_result(spec, params, result)

    @staticmethod
    def _inputs(spec: TaskSpec, params: EnclaveParams) -> dict[str, str]:
        for name in (params.input, params.test_input):
            if name not in spec.inputs:
                raise ConfigError(f"params: input {name!r} is not among this step's inputs ({', '.join(spec.inputs) or 'none'})")
        return {"train": params.input, "test": params.test_input}

    def _start_host(self, party: PartyConnection, spec: TaskSpec, params: EnclaveParams, roles: dict[str, str],
                    channel: str, what: str) -> _Host | None:  # fmt: skip
        """At the party operating the enclave host: the host process (tee runtime), running in a thread."""
        host = party.enclave_host
        if host is None or host.party_id != params.enclave_party:
            return None
        work = Path(tempfile.mkdtemp(prefix=f"powerfl-{self.task_id}-enclave-"))
        path = write_host_spec(work / "host.json", party_id=host.party_id, registry_path=str(party.registry_path),
                               private_key_path=host.private_key_path, job_id=channel, attempt=spec.attempt,
                               nonce=bytes.fromhex(spec.nonce), roles=roles, measured=host.measured,
                               operation=params.operation, params=params.enclave_params(), pccs_url=host.pccs_url)  # fmt: skip
        process = host_process(path)
        self._process = process
        errors: list[BaseException] = []

        def run() -> None:
            try:
                process.run(self.log, f"the enclave host {host.party_id} of {what}")
            except BaseException as exc:  # noqa: BLE001 - re-raised by launch
                errors.append(exc)

        thread = threading.Thread(target=run, name="enclave-host", daemon=True)
        thread.start()
        self.log.info("enclave host %s launched for %s (measured %s)", host.party_id, what, host.measured)
        return _Host(thread, process, errors)

    def _write_result(self, spec: TaskSpec, params: EnclaveParams, result: dict[str, Any]) -> None:
        """``result.json`` (metrics, and this party's opened outputs as the model file) in the output dir."""
        out = local_file(spec.outputs.dir, "")
        if out is None:
            raise PowerFLError(f"the enclave step writes local outputs, got {spec.outputs.dir}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "enclave_result.json").write_text(json.dumps(result, indent=1))
        metrics: dict[str, Any] = {"auc": result["auc"], "confidential": str(result["confidential"]).lower()}
        if not result["confidential"]:
            metrics["notice"] = NOT_CONFIDENTIAL
            self.log.warning("%s: party %s's results of %s come from a simulated enclave", NOT_CONFIDENTIAL, spec.party_id,
                             params.operation)  # fmt: skip
        model = {"operation": params.operation, "enclave_party": params.enclave_party, "file": str(out / "enclave_result.json")}
        (out / RESULT_FILE).write_text(json.dumps({"outputs": {}, "model": model, "metrics": metrics}))


@dataclass(frozen=True)
class _Host:
    """The enclave host process, the thread streaming its log, and its failure if it failed."""

    thread: threading.Thread
    process: LocalProcess
    errors: list[BaseException]
