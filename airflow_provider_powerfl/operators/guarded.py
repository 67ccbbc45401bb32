"""Federated steps under a JobGuard: a peer ending the job stops the step; a stop here is announced to the peers."""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.federation.events import StatusEvent
from airflow_provider_powerfl.jobs.contract import EXIT_PEER_FAILED
from airflow_provider_powerfl.operators.federated import (
    FederatedAlignOperator,
    FederatedFeatureEngineeringOperator,
    FederatedPredictOperator,
    FederatedTrainOperator,
)
from airflow_provider_powerfl.operators.step import FederatedStepOperator
from airflow_provider_powerfl.orchestration.jobcontext import JobContext, job_context
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, JobFailedElsewhere, JobGuard, PeerRestarted, announce_job_failure
from airflow_provider_powerfl.orchestration.nonce import run_nonce
from airflow_provider_powerfl.runtimes.local import StepFailed

# Seconds a step stopped by a peer's failure waits for that peer's Airflow to say why (its job event):
# the failure notice on the channel carries the error's class only, and usually arrives first.
PEER_REASON_GRACE = 10.0


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
