"""From a DAG run's PowerFL job conf, the party connection and the registry to one party's TaskSpec.

Job conf (the DAG run conf)::

    job_id: credit-2024-06            # default: the run id (must be equal at every party)
    parties: ["10000=guest", "20000=host"]
    common-args: {max_iter: 10, train: {learning_rate: 0.15}}
    parties-args:
      "10000": {align: {inputs: {data: {uri: /data/guest.csv, format: csv, label_column: y}}}}
      "20000": {align: {inputs: {data: {uri: /data/host.csv, format: csv}}}}

Args are layered, later wins: operator arguments, the ``outputs`` of the
upstream tasks named in ``inputs_from``, ``common-args``, ``common-args.<step>``,
``parties-args.<party>``, ``parties-args.<party>.<step>``. In each layer
``inputs`` merges by input name, ``output_dir`` replaces, ``work_dir`` sets the
root of default output dirs, every other key is a step parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.document import RESERVED, JobConfDocument
from airflow_provider_powerfl.jobs.params import STEPS, step_model
from airflow_provider_powerfl.jobs.pipeline import STEP_COMPONENTS, PipelineDef
from airflow_provider_powerfl.jobs.spec import KafkaSecurity, TaskSpec, parse_party_roles
from airflow_provider_powerfl.policy import PartyPolicy
from airflow_provider_powerfl.validation import parse

_KAFKA_SECURITY_FIELDS = frozenset(KafkaSecurity.model_fields)


class PartyIdentity(Protocol):
    """Who this party is, as its Airflow connection says (hooks.party.PartyConnection)."""

    conn_id: str
    party_id: str
    private_key_path: str | None


@dataclass(frozen=True)
class StepArgs:
    """One party's merged arguments of one step."""

    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_dir: str | None = None
    work_dir: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    shared: frozenset[str] = frozenset()  # params set for every step (common-args, parties-args.<party>)

    def layer(self, data: Any, where: str, *, shared: bool = False) -> StepArgs:
        """These args updated by one layer of the conf (the step-scoped sub-mappings are not read here)."""
        if data is None:
            return self
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        inputs = {name: dict(spec) for name, spec in self.inputs.items()}
        raw_inputs = data.get("inputs") or {}
        if not isinstance(raw_inputs, Mapping):
            raise ConfigError(f"{where}.inputs: expected a mapping of input name -> data spec")
        for name, spec in raw_inputs.items():
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{where}.inputs.{name}: expected a mapping (uri, format, ...), got {spec!r}")
            inputs[str(name)] = {**inputs.get(str(name), {}), **spec}
        for key in ("output_dir", "work_dir"):
            if not isinstance(data.get(key) or "", str):
                raise ConfigError(f"{where}.{key}: expected a path or URI, got {data[key]!r}")
        layer = {k: v for k, v in data.items() if k not in RESERVED and k not in STEPS}
        params = {**self.params, **layer}
        keys = frozenset(layer)
        return StepArgs(
            inputs=inputs,
            output_dir=data.get("output_dir") or self.output_dir,
            work_dir=data.get("work_dir") or self.work_dir,
            params=params,
            shared=self.shared | keys if shared else self.shared - keys,
        )

    def checked(self, step: str, where: str) -> StepArgs:
        """These args with the step's parameters checked by its typed model (jobs.params).

        A key set for every step that this step's model does not take (``max_iter`` at align) is dropped here;
        every other key must be the step's.
        """
        if step not in STEPS:
            return self
        model = step_model(step, self.params, where)
        params = {k: v for k, v in self.params.items() if k not in self.shared or k in model.model_fields}
        parse(model, params, where)
        return replace(self, params=params)


@dataclass(frozen=True)
class JobConf:
    """The PowerFL job conf of one DAG run."""

    job_id: str
    parties: dict[str, str]  # party id -> role, in conf order
    common_args: Mapping[str, Any] = field(default_factory=dict)
    parties_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any] | None, default_job_id: str) -> JobConf:
        """The conf checked once as a whole (every key of every layer, for every step) before any step reads it."""
        conf = conf or {}
        _refuse_party_own(conf, "dag_run.conf")
        if "parties" not in conf:
            raise ConfigError("dag_run.conf.parties: missing (e.g. ['10000=guest', '20000=host'])")
        parse(JobConfDocument, conf, "dag_run.conf")
        parties = parse_party_roles(conf["parties"], "dag_run.conf.parties")
        job_id = str(conf.get("job_id") or default_job_id).strip()
        if not job_id:
            raise ConfigError("dag_run.conf.job_id: must not be empty")
        per_party = conf.get("parties-args") or {}
        for party_id in per_party:
            if str(party_id) not in parties:
                raise ConfigError(
                    f"dag_run.conf.parties-args.{party_id}: party {party_id} is not among the job's parties "
                    f"({', '.join(parties)})"
                )
        return cls(job_id, parties, conf.get("common-args") or {}, {str(k): v for k, v in per_party.items()})

    def role_of(self, party: PartyIdentity) -> str:
        """This party's role in the job; ConfigError when the job does not include it."""
        role = self.parties.get(party.party_id)
        if role is None:
            listed = ", ".join(f"{p}={r}" for p, r in self.parties.items())
            raise ConfigError(
                f"party {party.party_id} (connection {party.conn_id!r}) is not among the parties of job "
                f"{self.job_id!r} ({listed}); check dag_run.conf.parties"
            )
        return role

    def step_args(self, party_id: str, step: str, base: StepArgs) -> StepArgs:
        args = base
        mine = self.parties_args.get(party_id) or {}
        layers = [
            (self.common_args, "common-args"),
            (_scoped(self.common_args, step, "common-args"), f"common-args.{step}"),
            (mine, f"parties-args.{party_id}"),
            (_scoped(mine, step, f"parties-args.{party_id}"), f"parties-args.{party_id}.{step}"),
        ]
        for data, where in layers:
            args = args.layer(data, f"dag_run.conf.{where}", shared=not where.endswith(f".{step}"))
        return args

    def check_policy(self, party_id: str, policy: PartyPolicy) -> None:
        """Refuse (PolicyRefused) what this conf itself asks of party `party_id` in any step, beyond its policy."""
        role = self.parties[party_id]
        for step in STEPS:
            args = self.step_args(party_id, step, StepArgs())
            policy.check_asked(party_id, role, step, args.params, args.inputs, args.output_dir, args.work_dir)


def check_job(conf: Mapping[str, Any], pipeline: PipelineDef) -> JobConf:
    """A job conf checked against the pipeline it starts: every step's merged parameters at every party.

    What ``powerfl job validate`` and the initiator's invite task run before any party starts a step.
    """
    job = JobConf.from_conf(conf, default_job_id="(the run id)")
    for task in pipeline.tasks:
        step = task.step or task.component
        if task.component not in STEP_COMPONENTS or step not in STEPS:
            continue
        for party_id in job.parties:
            args = job.step_args(party_id, step, StepArgs(params=dict(task.parameters)))
            args.checked(step, f"{pipeline.dag_id}: tasks.{task.task_id} at party {party_id}: params")
    return job


# a party's own settings that no job conf (nor the invitation carrying one) may set: its TEE policy is its file's
PARTY_OWN_FIELDS = ("tee_policy_path", "tee_policy")


def _refuse_party_own(data: Any, where: str) -> None:
    """ConfigError naming the field if ``data`` sets, at any depth, a field only the party's connection sets."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key in PARTY_OWN_FIELDS:
                raise ConfigError(
                    f"{where}.{key}: refused: a party's TEE policy is its own (its powerfl connection's tee_policy_path), "
                    "never a job conf's or an invitation's"
                )
            _refuse_party_own(value, f"{where}.{key}")
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            _refuse_party_own(value, f"{where}[{i}]")


def _scoped(data: Any, step: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"dag_run.conf.{where}: expected a mapping")
    return data.get(step)


def build_task_spec(
    job: JobConf,
    party: PartyIdentity,
    registry: PartyRegistry,
    *,
    step: str,
    args: StepArgs,
    attempt: int,
    nonce: str,
    default_output_dir: str,
    private_key: str | None = None,
    task_id: str | None = None,
) -> TaskSpec:
    """This party's spec: roles from the job, brokers and public keys (inlined PEM) from the registry.

    The step's merged parameters are checked here, before any spark-submit or pod, and again by the step itself.
    """
    role = job.role_of(party)
    args = args.checked(step, f"{job.job_id}: step {step} at party {party.party_id}: params")
    key = private_key or party.private_key_path
    if not key:
        raise ConfigError(f"connection {party.conn_id!r} field 'private_key_path': must be set to sign messages")
    parties = []
    for party_id, party_role in job.parties.items():
        try:
            info = registry.get(party_id)
        except ConfigError as exc:
            raise ConfigError(f"job {job.job_id!r}: {exc}") from exc
        entry: dict[str, Any] = {
            "id": party_id,
            "role": party_role,
            "bootstrap_servers": info.bootstrap_servers,
            "public_key": info.verify_key().pem(),
        }
        security = {k: v for k, v in info.security.items() if k in _KAFKA_SECURITY_FIELDS}
        if security:
            entry["security"] = security
        parties.append(entry)
    return TaskSpec.from_dict(
        {
            "job_id": job.job_id,
            "attempt": attempt,
            "party_id": party.party_id,
            "role": role,
            "private_key": key,
            "parties": parties,
            "inputs": args.inputs,
            "outputs": {"dir": args.output_dir or default_output_dir},
            "nonce": nonce,
            "params": args.params,
            "task_id": task_id,
        }
    )


def default_output_dir(work_dir: str, job_id: str, party_id: str, task_id: str) -> str:
    """``<work_dir>/<job>/<party>/<task>`` (a path or a URI); job ids are made path-safe."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job_id)
    return f"{work_dir.rstrip('/')}/{safe}/{party_id}/{task_id}"
