"""A guarded step stopped by a peer reports that peer's own reason when its job event follows soon."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.federation.events import StatusEvent
from airflow_provider_powerfl.operators import guarded as tasks
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK
from airflow_provider_powerfl.runtimes.local import StepFailed
from airflow_provider_powerfl.jobs.contract import EXIT_PEER_FAILED, EXIT_STEP_ERROR

GUEST, HOST = "10000", "20000"
HOST_REASON = "task 'align' failed at party 20000: /data/no-such-host-file.csv: no such file"


class FailingStep:
    """Stands in for FederatedStepOperator: its step process exits with ``returncode``."""

    returncode = EXIT_PEER_FAILED

    def execute(self, context: Any) -> Any:
        raise StepFailed(f"step align failed: party {HOST} failed (DataError) in job 'j.align' attempt 1", self.returncode)

    def on_kill(self) -> None:
        pass


class GuardedFailingStep(tasks.GuardedStepMixin, FailingStep):
    powerfl_conn_id = "powerfl_default"
    task_id = "align"
    log = logging.getLogger(__name__)


class HostEndsJobAfter:
    """A JobGuard whose peer's job event arrives ``delay`` seconds after start (None: never)."""

    delay: float | None = 0.5

    def __init__(self, registry: Any, me: str, job_id: str, on_failure: Any, **_: Any) -> None:
        self._event = StatusEvent(job_id, HOST, JOB_TASK, "failed", 1, HOST_REASON, time.time())
        self._on_failure = on_failure
        self._timer: threading.Timer | None = None

    def start(self) -> HostEndsJobAfter:
        if self.delay is not None:
            self._timer = threading.Timer(self.delay, self._on_failure, args=(self._event,))
            self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> GuardedFailingStep:
    job = SimpleNamespace(
        party=SimpleNamespace(party_id=GUEST), registry=None, signing_key=None,
        job=SimpleNamespace(job_id="j"), peers=[HOST],
    )  # fmt: skip
    monkeypatch.setattr(tasks, "job_context", lambda context, conn_id: job)
    monkeypatch.setattr(tasks, "JobGuard", HostEndsJobAfter)
    monkeypatch.setattr(tasks, "PEER_REASON_GRACE", 5.0)
    return GuardedFailingStep()


CONTEXT = {"ti": SimpleNamespace(try_number=1), "dag_run": SimpleNamespace(conf={"nonce": "0f" * 16})}


def test_a_step_stopped_by_a_peer_reports_the_peers_reason_when_its_event_follows(guarded: GuardedFailingStep) -> None:
    with pytest.raises(AirflowFailException, match=f"ended by party {HOST}: {HOST_REASON}"):
        guarded.execute(CONTEXT)


def test_without_the_peers_event_the_step_error_stands_after_the_grace(
    guarded: GuardedFailingStep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HostEndsJobAfter, "delay", None)
    monkeypatch.setattr(tasks, "PEER_REASON_GRACE", 0.3)
    with pytest.raises(StepFailed, match=f"party {HOST} failed \\(DataError\\)"):
        guarded.execute(CONTEXT)


def test_a_step_that_failed_on_its_own_does_not_wait_for_peers(
    guarded: GuardedFailingStep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its peers' echo of this failure must not replace its own reason."""
    monkeypatch.setattr(FailingStep, "returncode", EXIT_STEP_ERROR)
    start = time.monotonic()
    with pytest.raises(StepFailed):
        guarded.execute(CONTEXT)
    assert time.monotonic() - start < 0.5  # the host's event (at 0.5 s) is not awaited
