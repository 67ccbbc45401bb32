"""Wait for other parties of the job to report a task's status (signed events over Kafka)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_powerfl.exceptions import ConfigError, FederationError
from airflow_provider_powerfl.federation.events import StatusEvent, event_from_dict, latest, wait_state
from airflow_provider_powerfl.hooks.party import PowerFLPartyHook
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.orchestration.jobstate import JobFailedElsewhere, current_known, job_ended
from airflow_provider_powerfl.orchestration.nonce import run_nonce
from airflow_provider_powerfl.triggers.peer import FederatedPeerTrigger, JobPeerTrigger, open_reader


class PeerTaskFailed(FederationError):
    """A party the sensor waits for reported, in a status event, that its task failed.

    Not federation.errors.PeerFailed, which is a step's channel hearing that a peer's step failed.
    """

    def __init__(self, event: StatusEvent) -> None:
        super().__init__(
            f"party {event.party_id} reports task {event.task!r} of job {event.job_id!r} failed "
            f"(attempt {event.attempt}): {event.reason or 'no reason given'}"
        )
        self.event = event


class FederatedPeerSensor(BaseSensorOperator):
    """
    Wait until other parties report ``status`` for ``peer_task`` of this run's job.

    Events are signed by each party and checked against the registry; a peer's
    ``failed`` event fails the sensor at once with the peer's reason.

    :param peer_task: the peers' task name (their task id), e.g. ``train``.
    :param parties: party ids to wait for; default every other party of the job. (templated)
    :param status: the awaited status: ``success`` (default) or ``running``.
    :param job_id: default ``dag_run.conf.job_id``, else the run id. (templated)
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds per Kafka poll while deferred.
    """

    template_fields: Sequence[str] = ("peer_task", "parties", "job_id")
    ui_color = "#c9e4f6"
    trigger_class: type[FederatedPeerTrigger] = FederatedPeerTrigger

    def __init__(
        self,
        *,
        peer_task: str,
        parties: Sequence[str] | str | None = None,
        status: str = "success",
        job_id: str | None = None,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        deferrable: bool = False,
        poll_interval: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if status not in ("running", "success"):
            raise ConfigError(f"{self.task_id}: status {status!r}: expected running or success")
        self.peer_task = peer_task
        self.parties = parties
        self.status = status
        self.job_id = job_id
        self.powerfl_conn_id = powerfl_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._parties: tuple[str, ...] = ()  # resolved at execute
        self._pending: tuple[str, ...] = ()
        self._job_id = ""
        self._nonce = ""

    def _resolve(self, context: Any) -> tuple[str, list[str]]:
        """The job id and the parties waited for, from the arguments and the run's job conf."""
        dag_run = context["dag_run"]
        if self.parties is not None and self.job_id:
            parties = [self.parties] if isinstance(self.parties, str) else list(self.parties)
            return self.job_id, [str(p) for p in parties]
        job = JobConf.from_conf(dag_run.conf, self.job_id or dag_run.run_id)
        me = PowerFLPartyHook(self.powerfl_conn_id).get_party()
        job.role_of(me)
        if self.parties is None:
            parties = [p for p in job.parties if p != me.party_id]
        else:
            parties = [str(p) for p in ([self.parties] if isinstance(self.parties, str) else self.parties)]
            for party_id in parties:
                if party_id not in job.parties:
                    raise ConfigError(f"{self.task_id}: party {party_id} is not among the parties of job {job.job_id!r}")
        if not parties:
            raise ConfigError(f"{self.task_id}: no party to wait for in job {job.job_id!r}")
        return job.job_id, parties

    def execute(self, context: Any) -> Any:
        self._job_id, parties = self._resolve(context)
        self._nonce = run_nonce(context)
        self._parties = self._pending = tuple(parties)
        if self.deferrable:
            # look once before deferring: a trigger that fires within seconds of the deferral races the
            # scheduler (it may take the deferral's exit for the end of the resumed try and fail the task)
            first = self.poke(context)
            if first.is_done:
                return first.xcom_value
            self.defer(
                trigger=self.trigger_class(
                    powerfl_conn_id=self.powerfl_conn_id,
                    job_id=self._job_id,
                    nonce=self._nonce,
                    peer_task=self.peer_task,
                    parties=parties,
                    status=self.status,
                    deadline=time.time() + self.timeout,
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
            )
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(self._timeout_message()) from exc

    def poke(self, context: Any) -> PokeReturnValue:
        with open_reader(self.powerfl_conn_id, self._job_id, self._nonce) as reader:
            known = current_known(latest(reader.read_all()))  # a rerun voids the failures before it
        self.check_job(known)
        state = wait_state(known, self._parties, self.peer_task, self.status)
        if state.failed is not None:
            raise PeerTaskFailed(state.failed)
        self._pending = state.pending
        if state.pending:
            self.log.info("waiting for %s", self._waiting_for(state.pending))
        events = [asdict(known[(p, self.peer_task)]) for p in self._parties] if state.done else None
        return PokeReturnValue(state.done, events)

    def check_job(self, known: dict[tuple[str, str], StatusEvent]) -> None:
        """Raise if the job itself says to stop waiting; subclasses watch for more than the peer task."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Resume after the trigger fired: return the peers' events, or fail naming the party and event."""
        self._job_id = event.get("job_id", "")
        kind = event.get("status")
        if kind == "done":
            return event["events"]
        if kind == "peer_failed":
            raise PeerTaskFailed(event_from_dict(event["event"]))
        if kind == "timeout":
            self._pending = tuple(event["pending"])
            raise AirflowSensorTimeout(self._timeout_message())
        raise FederationError(f"{self.task_id}: waiting for peers' events failed: {event.get('message', event)}")

    def _waiting_for(self, pending: Sequence[str]) -> str:
        who = ", ".join(pending)
        return f"party {who} to report {self.status} of task {self.peer_task!r} in job {self._job_id!r}"

    def _timeout_message(self) -> str:
        return f"timed out after {self.timeout:g}s waiting for {self._waiting_for(self._pending)}"


class JobPeerSensor(FederatedPeerSensor):
    """Wait for peers like FederatedPeerSensor; fail for good, with the party and reason, when one ends the job."""

    trigger_class = JobPeerTrigger

    def check_job(self, known: dict[tuple[str, str], StatusEvent]) -> None:
        ended = job_ended(known, self._parties)
        if ended is not None:
            raise AirflowFailException(str(JobFailedElsewhere(ended)))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("status") == "job_failed":
            raise AirflowFailException(str(JobFailedElsewhere(event_from_dict(event["event"]))))
        return super().execute_complete(context, event)
