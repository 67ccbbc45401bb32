"""A step's watch over its job: a peer ending the job (or restarting the step) stops it here; a kill here ends the job everywhere.

The step operator holds one StepGuard per try (``job_guard=True``, which
every pipeline task has) and runs its step inside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.events import EventReader, StatusEvent
from airflow_provider_powerfl.jobs.contract import EXIT_PEER_FAILED
from airflow_provider_powerfl.orchestration.jobcontext import JobContext
from airflow_provider_powerfl.orchestration.jobstate import (
    JOB_TASK,
    JobFailedElsewhere,
    JobGuard,
    PeerRestarted,
    announce_job_failure,
    current,
    job_pause,
)
from airflow_provider_powerfl.runtimes.local import StepFailed

log = logging.getLogger(__name__)

# Seconds a step stopped by a peer's failure waits for that peer's Airflow to say why (its job event):
# the failure notice on the channel carries the error's class only, and usually arrives first.
PEER_REASON_GRACE = 10.0


class StepGuard:
    """
    Run a step under a JobGuard: ``with StepGuard(...):`` around the step, ``check()`` before it starts a process.

    A peer ending the job calls `stop_step` (every second until the step is
    gone) and the step fails for good with that party's reason; a peer
    running a newer attempt of this task stops it with the retryable
    PeerRestarted, so its retry joins the peer's.

    :param jc: this party and the run's job.
    :param task_id: the step's task id (the peers' events name it).
    :param attempt: this try's number.
    :param nonce: the run's nonce; events of other runs of the job are ignored.
    :param stop_step: kills the step's process or pod (no announcement).
    """

    def __init__(self, jc: JobContext, task_id: str, attempt: int, nonce: bytes, stop_step: Callable[[], None]) -> None:
        self.jc = jc
        self.task_id = task_id
        self.attempt = attempt
        self.nonce = nonce
        self._stop_step = stop_step
        self._key = jc.signing_key  # a missing key fails the step now, not when it is killed
        self.ended_by: StatusEvent | None = None
        self._guard: JobGuard | None = None

    def __enter__(self) -> StepGuard:
        me, job_id = self.jc.party.party_id, self.jc.job.job_id
        self._guard = JobGuard(
            self.jc.registry, me, job_id, self._peer_ended, task=self.task_id, attempt=self.attempt, nonce=self.nonce
        )
        self._guard.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if isinstance(exc, StepFailed) and exc.returncode == EXIT_PEER_FAILED:
                self._await_peer_reason(PEER_REASON_GRACE)
        finally:
            if self._guard is not None:
                self._guard.stop()
        if self.ended_by is not None:
            raise self.ending_error() from exc

    def check(self) -> None:
        """Raise why this try must stop, if a peer ended the job or restarted the step already."""
        if self.ended_by is not None:
            raise self.ending_error()

    def wait_while_paused(self, poll: float = 2.0) -> None:
        """Before the step starts: wait while a user has paused the job at any party (running steps were not stopped)."""
        jc = self.jc
        try:
            reader = EventReader(jc.registry, jc.party.party_id, jc.job.job_id, nonce=self.nonce)
        except PowerFLError:  # this party's broker down a moment (a restart): the step's own channel waits for it
            log.warning("cannot read this party's job events now; the step starts without waiting for a pause", exc_info=True)
            return
        with reader:
            pause = job_pause(current(reader.read_all()))  # a pause from before a rerun is over
            if pause is not None and pause.status == "paused":
                log.info("job paused (%s); this step starts when it is resumed", pause.describe())
            while pause is not None and pause.status == "paused":
                self.check()
                pause = job_pause(reader.poll(poll), pause)

    def ending_error(self) -> Exception:
        """Why this try stopped: the job ended elsewhere (for good) or a peer restarted the step (retryable)."""
        assert self.ended_by is not None
        if self.ended_by.task == JOB_TASK:
            return AirflowFailException(str(JobFailedElsewhere(self.ended_by)))
        return PeerRestarted(self.ended_by, self.attempt)

    def announce_kill(self) -> None:
        """The run was stopped here (UI, REST, timeout): tell every other party, unless the job ended already.

        A peer may have ended it (this step's guard saw it), or this party did: flow-server's stop posts its
        ``__job__ failed`` to this party's own topic too, and told the peers why before it killed the step.
        """
        if self.ended_by is None and self.ended_here() is None:
            jc = self.jc
            reason = f"run stopped at party {jc.party.party_id} (task {self.task_id!r} was killed)"
            announce_job_failure(jc.registry, self._key, jc.job.job_id, jc.party.party_id, jc.peers, reason, nonce=self.nonce)

    def ended_here(self, timeout: float = 5.0) -> StatusEvent | None:
        """This party's own ``__job__ failed`` on its own topic (a stop through flow-server), if any; None if unreadable."""
        jc = self.jc
        me = jc.party.party_id
        try:
            with EventReader(jc.registry, me, jc.job.job_id, nonce=self.nonce) as reader:
                events = reader.read_all(timeout)
        except PowerFLError:
            log.exception("could not read this party's own job events; announcing the kill")
            return None
        ends = [e for e in current(events) if e.party_id == me and e.task == JOB_TASK and e.status == "failed"]
        return ends[0] if ends else None  # one from before a rerun is over

    def _await_peer_reason(self, seconds: float) -> None:
        """Give the guard up to `seconds` to deliver the job event of the peer whose failure stopped the step."""
        deadline = time.monotonic() + seconds
        while self.ended_by is None and time.monotonic() < deadline:
            time.sleep(0.1)

    def _peer_ended(self, event: StatusEvent) -> None:
        """The JobGuard thread's call, every second once a peer ended the job or restarted the step: kill the step."""
        if self.ended_by is None:
            self.ended_by = event
            log.error("stopping this step: %s", event.describe())
        self._stop_step()
