"""The operator every federated step shares: job conf -> task spec -> spark-submit -> result in XCom."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import RUNTIMES, PartyConnection, PowerFLPartyHook
from airflow_provider_powerfl.hooks.storage import aws_environment
from airflow_provider_powerfl.jobs.conf import StepArgs, build_task_spec, default_output_dir
from airflow_provider_powerfl.jobs.contract import RESULT_FILE
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.orchestration.guard import StepGuard
from airflow_provider_powerfl.orchestration.jobcontext import JobContext, job_context
from airflow_provider_powerfl.orchestration.nonce import run_nonce
from airflow_provider_powerfl.policy import PolicyRefused
from airflow_provider_powerfl.runtimes.class_archive import existing_archive
from airflow_provider_powerfl.runtimes.command import SPEC_FILE, STEP_NAME, SparkSettings, step_command
from airflow_provider_powerfl.runtimes.kubernetes import (
    AWS_SECRET_KEYS,
    KubernetesSettings,
    pod_operator,
    pod_settings,
    spec_for_pod,
    step_failure,
)
from airflow_provider_powerfl.runtimes.local import PreviousStep, previous_step, record_path
from airflow_provider_powerfl.runtimes.step_server import LocalStep

# how long a step's success event keeps trying a peer's broker: one restarting on a loaded 2-core machine was
# away over 30 s (tests/faults' broker kill -9), and a lost success fails the task, and so the job
SUCCESS_DELIVERY_WINDOW = 180.0
# the other events only inform (a failing step's peers also hear it on the channel): a short window, so that a
# task failing while the network to a peer is down ends here soon
EVENT_DELIVERY_WINDOW = 15.0


class FederatedStepOperator(BaseOperator):
    """
    Run this party's side of one federated Spark step (``spark_jobs/<step>.py``).

    The task spec is built from the arguments, the DAG run's PowerFL job conf
    and the party connection (see ``docs/operators.md``); the step runs as a
    local process or a Kubernetes pod. Returns (XCom) the step's result: output
    dir, outputs, model and metrics from its ``result.json``. Each party tells
    the others its task's outcome with a signed event (see FederatedPeerSensor).

    :param step: entry point name, e.g. ``inspect_data``; subclasses fix it.
    :param inputs: input name -> data spec (uri, format, ...). (templated)
    :param inputs_from: upstream task ids whose result ``outputs`` become inputs (and ``model`` a param).
    :param output_dir: where the step writes; default ``<work_dir>/<job>/<party>/<task_id>``. (templated)
    :param step_params: the step's parameters. (templated)
    :param job_id: default ``dag_run.conf.job_id``, else the run id. (templated)
    :param work_dir: root of default output dirs (default: the party policy's ``output_dir``). (templated)
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    :param runtime: ``local`` or ``kubernetes``; default the connection's.
    :param spark: SparkSettings or a mapping of its fields (master, deploy_mode, conf, jobs_dir).
    :param kubernetes: KubernetesSettings or a mapping of its fields; ``dag_run.conf.kubernetes`` (at the party that
        started the job) overrides them, and the connection's ``kubernetes`` (this party's own) overrides both.
    :param publish_events: tell the other parties this task's outcome.
    :param job_guard: run the step under a StepGuard: another party ending the job (or restarting this
        step) stops it here, and a kill here ends the job at every party. Pipelines set it on every step.
    """

    template_fields: Sequence[str] = ("inputs", "output_dir", "step_params", "job_id", "work_dir")
    template_fields_renderers = {"inputs": "json", "step_params": "json"}
    ui_color = "#f0e4ec"
    step: str = ""

    def __init__(
        self,
        *,
        step: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        inputs_from: Sequence[str] = (),
        output_dir: str | None = None,
        step_params: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        work_dir: str | None = None,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        runtime: str | None = None,
        spark: SparkSettings | Mapping[str, Any] | None = None,
        kubernetes: KubernetesSettings | Mapping[str, Any] | None = None,
        publish_events: bool = True,
        job_guard: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step or type(self).step
        if not STEP_NAME.match(self.step or ""):
            raise ConfigError(f"{self.task_id}: step {self.step!r}: expected a spark_jobs entry point name like 'align'")
        if runtime is not None and runtime not in RUNTIMES:
            raise ConfigError(f"{self.task_id}: runtime {runtime!r}: expected one of {'|'.join(RUNTIMES)}")
        self.inputs = dict(inputs or {})
        self.inputs_from = [inputs_from] if isinstance(inputs_from, str) else list(inputs_from)
        self.output_dir = output_dir
        self.step_params = dict(step_params or {})
        self.job_id = job_id
        self.work_dir = work_dir
        self.powerfl_conn_id = powerfl_conn_id
        self.runtime = runtime
        self.spark = spark if isinstance(spark, SparkSettings) else SparkSettings(**dict(spark or {}))
        self.kubernetes = KubernetesSettings.from_value(kubernetes, f"{self.task_id}.kubernetes")
        self.publish_events = publish_events
        self.job_guard = job_guard
        self.job_ctx: JobContext | None = None  # read once per try, at execute
        self._guard: StepGuard | None = None
        self._process: LocalStep | PreviousStep | None = None
        self._pod_operator: Any = None

    # ------------------------------------------------------------ spec
    def step_params_for(self, context: Any) -> dict[str, Any]:
        """The step's own parameters before the job conf's; subclasses add theirs."""
        return dict(self.step_params)

    def build_spec(self, context: Any, jc: JobContext, runtime: str) -> TaskSpec:
        """This party's task spec for this try of the task."""
        base = StepArgs(params=self.step_params_for(context)).layer(
            {"inputs": self._upstream_inputs(context), **self._upstream_model(context)}, f"{self.task_id}.inputs_from"
        )
        base = base.layer({"inputs": self.inputs, "output_dir": self.output_dir, "work_dir": self.work_dir}, self.task_id)
        party, job = jc.party, jc.job
        args = job.step_args(party.party_id, self.step, base)
        out_default = default_output_dir(args.work_dir or party.policy.output_dir, job.job_id, party.party_id, self.task_id)
        key = self.pod_settings(context, party).private_key_path if runtime == "kubernetes" else None
        attempt = max(1, int(context["ti"].try_number or 1))
        return build_task_spec(
            job,
            party,
            jc.registry,
            step=self.step,
            args=args,
            attempt=attempt,
            nonce=run_nonce(context),
            default_output_dir=out_default,
            private_key=key,
            task_id=self.task_id,
        )

    def pod_settings(self, context: Any, party: PartyConnection) -> KubernetesSettings:
        """The step pod's settings: this operator's, the job conf's (only in a run this party started), the party's own."""
        overrides = own_pod_overrides(context["dag_run"].conf, party.party_id)
        return pod_settings(self.kubernetes, overrides, party.kubernetes, party.conn_id)

    def _upstream_results(self, context: Any) -> list[tuple[str, Mapping[str, Any]]]:
        results = []
        for task_id in self.inputs_from:
            result = context["ti"].xcom_pull(task_ids=task_id)
            if not isinstance(result, Mapping):
                raise ConfigError(f"{self.task_id}: inputs_from {task_id!r} left no step result in XCom")
            results.append((task_id, result))
        return results

    def _upstream_inputs(self, context: Any) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for task_id, result in self._upstream_results(context):
            for name, data in (result.get("outputs") or {}).items():
                if name in inputs:
                    raise ConfigError(f"{self.task_id}: input {name!r} comes from two upstream tasks ({task_id} and another)")
                inputs[name] = data
        return inputs

    def _upstream_model(self, context: Any) -> dict[str, Any]:
        models = [result["model"] for _, result in self._upstream_results(context) if result.get("model")]
        return {"model": models[-1]} if models else {}

    # ------------------------------------------------------------ run
    def execute(self, context: Any) -> dict[str, Any]:
        self.job_ctx = jc = job_context(context, self.powerfl_conn_id, self.job_id)
        runtime = self.runtime or jc.party.runtime
        spec = self.build_spec(context, jc, runtime)
        if self.job_guard:
            self._guard = StepGuard(jc, self.task_id, spec.attempt, bytes.fromhex(spec.nonce), self._stop_step)
        with self._guard or nullcontext():
            return self._run_step(context, jc, spec, runtime)

    def _run_step(self, context: Any, jc: JobContext, spec: TaskSpec, runtime: str) -> dict[str, Any]:
        """Enforce the party's policy, run the step, read its result; the peers hear each outcome."""
        registry, signer = jc.registry, (jc.signing_key if self.publish_events else None)
        try:
            spec = jc.party.policy.enforce(spec, self.step)
        except PolicyRefused as exc:  # nothing ran: the job ends at every party with the reason, no retry
            self._tell_peers(registry, signer, spec, "failed", str(exc))
            raise AirflowFailException(str(exc)) from exc
        try:
            return self._run_and_tell(context, jc, spec, runtime, registry, signer)
        except BaseException:  # failed here: a later try runs the step anew (a success's record stays: Airflow may
            if not self._step_outlives_try(spec):  # try a task again whose supervisor died, its step done)
                self._record(spec).unlink(missing_ok=True)
            raise

    def _run_and_tell(
        self, context: Any, jc: JobContext, spec: TaskSpec, runtime: str, registry: PartyRegistry, signer: SigningKey | None
    ) -> dict[str, Any]:
        what = f"step {self.step} (task {self.task_id}) of job {spec.job_id!r} at party {spec.party_id}"
        finished = self._finish_previous_step(spec, what) if runtime != "kubernetes" else None
        if finished is not None:  # before any "running": a newer attempt would make the peers restart theirs
            self._tell_peers(registry, signer, spec, "success", None, strict=True)
            return finished
        self._tell_peers(registry, signer, spec, "running", None)
        try:
            if self._guard is not None:
                self._guard.wait_while_paused()
                self._guard.check()  # a peer ended the job while this try started: no process to start
            self.launch(context, jc, spec, runtime, what)
            result = self.read_result(spec)
        except PowerFLError as exc:
            self._tell_peers(registry, signer, spec, "failed", str(exc))
            raise
        except BaseException as exc:
            if not self._step_outlives_try(spec):  # else the step goes on with the peers: no failure to tell
                self._tell_peers(registry, signer, spec, "failed", f"{type(exc).__name__}: {exc}")
            raise
        self._tell_peers(registry, signer, spec, "success", None, strict=True)
        return result

    def _step_outlives_try(self, spec: TaskSpec) -> bool:
        """Whether this try's local step still runs as the try fails: a scheduler's kill -9 ends the try's supervisor,
        and the try's next log line then fails on the dead log channel (BrokenPipeError), while the step (own process
        group) goes on with the peers. Its record stays, and the next try waits for it and takes its result."""
        previous = previous_step(self._record(spec))
        return previous is not None and previous.running()

    def launch(self, context: Any, jc: JobContext, spec: TaskSpec, runtime: str, what: str) -> None:
        """Run this party's side of the step to its end (its ``result.json`` in ``spec.outputs.dir``)."""
        archive = existing_archive() if runtime != "kubernetes" else None  # this machine's file: not in a pod
        argv = step_command(self.step, f"powerfl-{self.step}-{spec.job_id}-{spec.party_id}", self.spark, archive)
        if runtime == "kubernetes":
            self._run_pod(context, argv, spec, self.pod_settings(context, jc.party), what)
        else:
            self._run_local(argv, spec, what)

    def _run_local(self, argv: list[str], spec: TaskSpec, what: str) -> None:
        env = self.step_environment()
        with tempfile.TemporaryDirectory(prefix=f"powerfl-{self.task_id}-") as tmp:
            spec.dump(Path(tmp) / SPEC_FILE)
            server = self.job_ctx.party.step_server if self.job_ctx is not None else None
            self._process = LocalStep(self.step, argv, Path(tmp) / SPEC_FILE, self.spark, env, server)
            self._process.run(self.log, what, record=self._record(spec))

    def step_environment(self) -> dict[str, str] | None:
        """A local step's environment: this worker's, plus the object store's credentials from the ``aws`` connection
        the party's connection names (hooks.storage), which are never in the spec or the Spark conf; None: the worker's."""
        party = self.job_ctx.party if self.job_ctx is not None else None
        if party is None or party.aws_conn_id is None:
            return None
        return {**os.environ, **aws_environment(party.aws_conn_id)}

    def _record(self, spec: TaskSpec) -> Path:
        return record_path(spec.job_id, spec.party_id, self.task_id, spec.nonce[:16])

    def _finish_previous_step(self, spec: TaskSpec, what: str) -> dict[str, Any] | None:
        """A former try's step whose supervisor was killed outright (a scheduler's kill -9) went on with the peers (its
        own process group): wait for it and take its result; None (no such step, or it failed): run anew."""
        previous = previous_step(self._record(spec))
        if previous is None:
            return None
        self._process = previous  # a stop or a peer's end kills it
        try:
            previous.wait(self.log, what)
            if self._guard is not None:
                self._guard.check()
            path = local_file(spec.outputs.dir, RESULT_FILE)
            failed = previous.exit_code not in (None, 0)
            if failed or path is None or not path.exists() or path.stat().st_mtime < previous.at:
                self.log.warning("%s: a former try's step (pid %d) ended without a result; running it anew", what, previous.pid)
                return None
            self.log.warning("%s: taking the result of a former try's step (pid %d), which finished with the peers",
                             what, previous.pid)  # fmt: skip
            return self.read_result(spec)
        finally:
            self._process = None

    def _run_pod(self, context: Any, argv: list[str], spec: TaskSpec, settings: KubernetesSettings, what: str) -> None:
        party = self.job_ctx.party if self.job_ctx is not None else None
        if party is not None and party.aws_conn_id is not None and not settings.aws_secret:
            raise ConfigError(
                f"connection {party.conn_id!r} field 'aws_conn_id': a step pod takes the object store's credentials from "
                f"a Secret, never from a connection: name one in kubernetes.aws_secret (keys {', '.join(AWS_SECRET_KEYS)})"
            )
        labels = {"powerfl.job": spec.job_id, "powerfl.party": spec.party_id, "powerfl.step": self.step}
        spec_json = json.dumps(spec_for_pod(spec, settings).to_dict())
        self._pod_operator = pod_operator(self.task_id, argv, spec_json, settings, labels)
        try:
            self._pod_operator.execute(context)
        except Exception as exc:
            op = self._pod_operator
            failed = step_failure(exc, what, op.remote_pod, op.base_container_name)
            if failed is None:
                raise
            raise failed from exc

    def on_kill(self) -> None:
        """The task was stopped here (UI, REST, timeout): stop the step; under a guard, the job ends at every party."""
        if self._guard is not None:
            self._guard.announce_kill()
        self._stop_step()

    def _stop_step(self) -> None:
        if self._process is not None:
            self._process.kill()
        if self._pod_operator is not None:
            self._pod_operator.on_kill()

    # ------------------------------------------------------------ results and events
    def read_result(self, spec: TaskSpec) -> dict[str, Any]:
        """The XCom value: who/what/where plus the step's ``result.json`` (outputs, model, metrics)."""
        out = {
            "job_id": spec.job_id,
            "party_id": spec.party_id,
            "role": spec.role,
            "step": self.step,
            "attempt": spec.attempt,
            "output_dir": spec.outputs.dir,
            "outputs": {},
            "model": None,
            "metrics": {},
        }
        path = local_file(spec.outputs.dir, RESULT_FILE)
        if path is None:
            self.log.info("%s is not on a local file system; XCom carries the output dir only", spec.outputs.dir)
            return out
        if not path.exists():
            self.log.info("step %s wrote no %s", self.step, RESULT_FILE)
            return out
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PowerFLError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(result, Mapping):
            raise PowerFLError(f"{path}: expected a JSON object")
        out["outputs"] = dict(result.get("outputs") or {})
        out["model"] = result.get("model")
        out["metrics"] = {k: v for k, v in (result.get("metrics") or {}).items() if isinstance(v, (int, float, str))}
        if out["metrics"]:
            self.log.info("metrics of %s: %s", self.task_id, out["metrics"])
        return out

    def _tell_peers(
        self,
        registry: PartyRegistry,
        signer: SigningKey | None,
        spec: TaskSpec,
        status: str,
        reason: str | None,
        strict: bool = False,
    ) -> None:
        """Publish this task's outcome to every other party; a lost success event fails the task (peers would wait)."""
        if signer is None:
            return
        event = StatusEvent(spec.job_id, spec.party_id, self.task_id, status, spec.attempt, reason, time.time())
        timeout = SUCCESS_DELIVERY_WINDOW if strict else EVENT_DELIVERY_WINDOW  # deliver tries a broker again within it
        try:
            publish_event(registry, signer, event, [p.id for p in spec.peers()], nonce=bytes.fromhex(spec.nonce), timeout=timeout)
        except PowerFLError:
            if strict:
                raise
            self.log.exception("could not tell the other parties that %s", event.describe())


def own_pod_overrides(conf: Mapping[str, Any] | None, party_id: str) -> Any:
    """``dag_run.conf.kubernetes`` of a run this party started; None in a run another party's invitation started (its pods are its own)."""
    conf = conf or {}
    return conf.get("kubernetes") if str(conf.get("initiator") or party_id) == party_id else None


def local_file(directory: str, name: str) -> Path | None:
    """``directory/name`` as a local path when ``directory`` is a plain path or ``file:`` URI, else None."""
    parsed = urlparse(directory)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else directory) / name
    return None
