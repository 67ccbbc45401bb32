"""The Airflow side of orchestration: invite the other parties, guard every step, end the job everywhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.events import EventReader, StatusEvent, latest
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook
from airflow_provider_powerfl.operators.federated import (
    FederatedAlignOperator,
    FederatedFeatureEngineeringOperator,
    FederatedPredictOperator,
    FederatedTrainOperator,
)
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.orchestration.nonce import NONCE_XCOM, run_nonce
from airflow_provider_powerfl.operators.step import FederatedStepOperator
from airflow_provider_powerfl.orchestration.invitation import INVITATION_TASK, Invitation, send_invitation
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, JobFailedElsewhere, JobGuard, PeerRestarted, announce_job_failure
from airflow_provider_powerfl.runtimes.local import StepFailed
from airflow_provider_powerfl.jobs.spec import parse_nonce
from airflow_provider_powerfl.jobs.contract import EXIT_PEER_FAILED

log = logging.getLogger(__name__)

# Seconds a step stopped by a peer's failure waits for that peer's Airflow to say why (its job event):
# the failure notice on the channel carries the error's class only, and usually arrives first.
PEER_REASON_GRACE = 10.0


@dataclass(frozen=True)
class JobContext:
    """This party, its registry and key, and the run's job."""

    party: PartyConnection
    registry: PartyRegistry
    signing_key: SigningKey
    job: JobConf

    @property
    def peers(self) -> list[str]:
        return [p for p in self.job.parties if p != self.party.party_id]


def job_context(context: Any, powerfl_conn_id: str = PowerFLPartyHook.default_conn_name) -> JobContext:
    """Read the connection, registry and signing key; the job from the run's conf (job id default: run id)."""
    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    if not party.registry_path:
        raise ConfigError(f"connection {party.conn_id!r} field 'registry_path': must name the party registry")
    if not party.private_key_path:
        raise ConfigError(f"connection {party.conn_id!r} field 'private_key_path': must be set to sign messages")
    dag_run = context["dag_run"]
    job = JobConf.from_conf(dag_run.conf, dag_run.run_id)
    job.role_of(party)
    return JobContext(party, PartyRegistry.from_yaml(party.registry_path), SigningKey.from_file(party.private_key_path), job)


def is_initiator(conf: Mapping[str, Any] | None, party_id: str) -> bool:
    """A run triggered by a user (no ``initiator`` in its conf) initiates; one started by an invitation does not."""
    initiator = str((conf or {}).get("initiator") or "")
    return initiator in ("", party_id)


def end_job_on_failure(context: Any) -> None:
    """``on_failure_callback`` of every pipeline task: a task failed for good here, so the job ends everywhere."""
    ti = context["ti"]
    exc = context.get("exception")
    if isinstance(exc, AirflowFailException) and "ended by party" in str(exc):
        return  # another party ended the job; it told everybody already
    try:
        jc = job_context(context, getattr(context["task"], "powerfl_conn_id", PowerFLPartyHook.default_conn_name))
        nonce = bytes.fromhex(run_nonce(context))  # none: the invite task failed before inviting anybody
    except Exception:
        log.exception("cannot tell the other parties that task %s failed", ti.task_id)
        return
    reason = f"task {ti.task_id!r} failed at party {jc.party.party_id}: {exc}"
    announce_job_failure(jc.registry, jc.signing_key, jc.job.job_id, jc.party.party_id, jc.peers, reason, nonce=nonce)


class GuardedStepMixin:
    """
    Runs a step under a JobGuard: a peer ending the job kills the step; a stop here is announced to the peers.

    A peer running a newer attempt of this step kills this attempt too, which
    then fails with the retryable PeerRestarted: its retry joins the peer's.
    """

    powerfl_conn_id: str
    task_id: str
    log: Any

    def execute(self, context: Any) -> Any:
        jc = job_context(context, self.powerfl_conn_id)
        self._nonce = bytes.fromhex(run_nonce(context))
        self._job_ctx: JobContext | None = jc
        self._ended_by: StatusEvent | None = None
        self._attempt = max(1, int(context["ti"].try_number or 1))
        guard = JobGuard(
            jc.registry, jc.party.party_id, jc.job.job_id, self._peer_ended_job, task=self.task_id, attempt=self._attempt, nonce=self._nonce
        )
        guard.start()
        try:
            result = super().execute(context)  # type: ignore[misc]
        except BaseException as exc:
            if isinstance(exc, StepFailed) and exc.returncode == EXIT_PEER_FAILED:
                self._await_peer_reason(PEER_REASON_GRACE)
            if self._ended_by is not None:
                raise self._ending_error() from exc
            raise
        finally:
            guard.stop()
        if self._ended_by is not None:
            raise self._ending_error()
        return result

    def _await_peer_reason(self, seconds: float) -> None:
        """Give the guard up to ``seconds`` to deliver the job event of the peer whose failure stopped the step."""
        deadline = time.monotonic() + seconds
        while self._ended_by is None and time.monotonic() < deadline:
            time.sleep(0.1)

    def _ending_error(self) -> Exception:
        """Why this attempt stopped: the job ended elsewhere (for good) or a peer restarted the step (retryable)."""
        assert self._ended_by is not None
        if self._ended_by.task == JOB_TASK:
            return AirflowFailException(str(JobFailedElsewhere(self._ended_by)))
        return PeerRestarted(self._ended_by, self._attempt)

    def _peer_ended_job(self, event: StatusEvent) -> None:
        """Called by the guard thread every second once a peer ended the job or restarted the step: kill the step process."""
        if self._ended_by is None:
            self._ended_by = event
            self.log.error("stopping this step: %s", event.describe())
        super().on_kill()  # type: ignore[misc]

    def _run_local(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_ended_by", None) is not None:
            raise self._ending_error()
        super()._run_local(*args, **kwargs)  # type: ignore[misc]

    def on_kill(self) -> None:
        """The run was stopped here (UI, REST, timeout): stop the step and tell every other party."""
        jc = getattr(self, "_job_ctx", None)
        if jc is not None and getattr(self, "_ended_by", None) is None:
            reason = f"run stopped at party {jc.party.party_id} (task {self.task_id!r} was killed)"
            announce_job_failure(jc.registry, jc.signing_key, jc.job.job_id, jc.party.party_id, jc.peers, reason, nonce=self._nonce)
        super().on_kill()  # type: ignore[misc]


class GuardedStepOperator(GuardedStepMixin, FederatedStepOperator):
    """FederatedStepOperator under a JobGuard."""


class GuardedAlignOperator(GuardedStepMixin, FederatedAlignOperator):
    """FederatedAlignOperator under a JobGuard."""


class GuardedTrainOperator(GuardedStepMixin, FederatedTrainOperator):
    """FederatedTrainOperator under a JobGuard."""


class GuardedPredictOperator(GuardedStepMixin, FederatedPredictOperator):
    """FederatedPredictOperator under a JobGuard."""


class GuardedFeatureEngineeringOperator(GuardedStepMixin, FederatedFeatureEngineeringOperator):
    """FederatedFeatureEngineeringOperator under a JobGuard."""


class InviteOperator(BaseOperator):
    """
    At the initiating party, invite every other party of the job and wait until each has accepted.

    A refusal fails the task with the refusing party's reason. At a party that
    was itself invited (``initiator`` in the conf) the task does nothing. The
    invitations carry the run's nonce: the conf's, else one drawn here and
    left in XCom (``powerfl_nonce``) for the run's other tasks.

    :param dag_id_to_start: the pipeline the others start; default this DAG.
    :param accept_timeout: seconds to wait for every party's answer.
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    """

    ui_color = "#fff2cc"

    def __init__(
        self,
        *,
        dag_id_to_start: str | None = None,
        accept_timeout: float = 120.0,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dag_id_to_start = dag_id_to_start
        self.accept_timeout = accept_timeout
        self.powerfl_conn_id = powerfl_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        jc = job_context(context, self.powerfl_conn_id)
        me, job_id = jc.party.party_id, jc.job.job_id
        conf = dict(context["dag_run"].conf or {})
        if not is_initiator(conf, me):
            self.log.info("job %r was started by party %s's invitation; nothing to send", job_id, conf["initiator"])
            return {"job_id": job_id, "initiator": conf["initiator"], "invited": []}
        dag_id = self.dag_id_to_start or context["dag_run"].dag_id
        if conf.get("nonce"):
            nonce = parse_nonce(conf["nonce"], "dag_run.conf.nonce")
        else:
            nonce = new_nonce().hex()
            context["ti"].xcom_push(key=NONCE_XCOM, value=nonce)
        invited_conf = {**conf, "job_id": job_id, "initiator": me, "nonce": nonce}
        with EventReader(jc.registry, me, job_id, nonce=bytes.fromhex(nonce)) as reader:
            for peer in jc.peers:
                send_invitation(jc.registry, jc.signing_key, Invitation(job_id, dag_id, invited_conf, me, peer, time.time()))
            answers = self._wait_answers(reader, jc.peers, job_id)
        self.log.info("every party accepted job %r: %s", job_id, ", ".join(jc.peers))
        return {"job_id": job_id, "initiator": me, "invited": jc.peers, "answers": answers}

    def _wait_answers(self, reader: EventReader, peers: list[str], job_id: str) -> dict[str, str]:
        deadline = time.monotonic() + self.accept_timeout
        known: dict[tuple[str, str], StatusEvent] = {}
        while True:
            known = latest(reader.poll(1.0), known)
            pending = []
            for peer in peers:
                answer = known.get((peer, INVITATION_TASK))
                if answer is None:
                    pending.append(peer)
                elif answer.status == "failed":
                    raise AirflowFailException(f"party {peer} refused job {job_id!r}: {answer.reason}")
            if not pending:
                return {peer: known[(peer, INVITATION_TASK)].reason or "accepted" for peer in peers}
            if time.monotonic() > deadline:
                raise AirflowFailException(
                    f"no answer to the invitation to job {job_id!r} from party {', '.join(pending)} within "
                    f"{self.accept_timeout:g}s: is its Airflow up, its powerfl_listener DAG unpaused, its broker reachable?"
                )
            self.log.info("waiting for party %s to accept job %r", ", ".join(pending), job_id)


class JobSummaryOperator(BaseOperator):
    """
    The job's result for the UI and the REST API: model and metrics from the named upstream steps.

    :param train_task: task id of the training step.
    :param predict_task: task id of the prediction step.
    :param require_metrics_role: fail when this role's prediction has no metrics (the label holder's).
    """

    def __init__(self, *, train_task: str, predict_task: str, require_metrics_role: str | None = "guest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.train_task = train_task
        self.predict_task = predict_task
        self.require_metrics_role = require_metrics_role

    def execute(self, context: Any) -> dict[str, Any]:
        trained = context["ti"].xcom_pull(task_ids=self.train_task) or {}
        predicted = context["ti"].xcom_pull(task_ids=self.predict_task) or {}
        summary = {
            "job_id": predicted.get("job_id"),
            "party_id": predicted.get("party_id"),
            "role": predicted.get("role"),
            "model": trained.get("model"),
            "train_metrics": trained.get("metrics") or {},
            "predict_metrics": predicted.get("metrics") or {},
        }
        if predicted.get("role") == self.require_metrics_role and not summary["predict_metrics"]:
            raise ConfigError(f"{self.predict_task} of party {predicted.get('party_id')} reported no metrics in {predicted.get('output_dir')}")
        self.log.info("job summary: %s", summary)
        return summary
