"""A step under a StepGuard: a peer ending the job stops it with that peer's reason; a kill here is announced."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.events import StatusEvent
from airflow_provider_powerfl.jobs.contract import EXIT_PEER_FAILED, EXIT_STEP_ERROR
from airflow_provider_powerfl.orchestration import guard as guard_module
from airflow_provider_powerfl.orchestration.guard import StepGuard
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, PeerRestarted
from airflow_provider_powerfl.runtimes.local import StepFailed

GUEST, HOST = "10000", "20000"
HOST_REASON = "task 'align' failed at party 20000: /data/no-such-host-file.csv: no such file"
PEER_FAILED = f"step align failed: party {HOST} failed (DataError) in job 'j.align' attempt 1"


class HostEndsJobAfter:
    """A JobGuard whose peer's event arrives ``delay`` seconds after start (None: never)."""

    delay: float | None = 0.5
    task = JOB_TASK

    def __init__(self, registry: Any, me: str, job_id: str, on_failure: Any, **_: Any) -> None:
        self._event = StatusEvent(
            job_id, HOST, self.task, "failed" if self.task == JOB_TASK else "running", 2, HOST_REASON, time.time()
        )
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


class Step:
    """The step the guard watches: ``stopped`` counts the guard's kill calls."""

    def __init__(self) -> None:
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def jc() -> Any:
    party = SimpleNamespace(party_id=GUEST)
    return SimpleNamespace(party=party, registry=None, signing_key="key", job=SimpleNamespace(job_id="j"), peers=[HOST])


@pytest.fixture(autouse=True)
def fake_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "JobGuard", HostEndsJobAfter)
    monkeypatch.setattr(guard_module, "PEER_REASON_GRACE", 5.0)


def guarded(jc: Any, step: Step) -> StepGuard:
    return StepGuard(jc, "align", 1, b"\x0f" * 16, step.stop)


def test_a_step_stopped_by_a_peer_reports_the_peers_reason_when_its_event_follows(jc: Any) -> None:
    step = Step()
    with pytest.raises(AirflowFailException, match=f"ended by party {HOST}: {HOST_REASON}"), guarded(jc, step):
        raise StepFailed(PEER_FAILED, EXIT_PEER_FAILED)
    deadline = time.monotonic() + 2.0  # the guard's thread records the peer's event, then calls the kill
    while step.stopped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert step.stopped >= 1


def test_without_the_peers_event_the_step_error_stands_after_the_grace(jc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HostEndsJobAfter, "delay", None)
    monkeypatch.setattr(guard_module, "PEER_REASON_GRACE", 0.3)
    with pytest.raises(StepFailed, match=f"party {HOST} failed \\(DataError\\)"), guarded(jc, Step()):
        raise StepFailed(PEER_FAILED, EXIT_PEER_FAILED)


def test_a_step_that_failed_on_its_own_does_not_wait_for_peers(jc: Any) -> None:
    """Its peers' echo of this failure must not replace its own reason."""
    start = time.monotonic()
    with pytest.raises(StepFailed), guarded(jc, Step()):
        raise StepFailed("step align failed: bad input", EXIT_STEP_ERROR)
    assert time.monotonic() - start < 0.5  # the host's event (at 0.5 s) is not awaited


def test_a_peers_newer_attempt_stops_this_one_with_a_retryable_error(jc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HostEndsJobAfter, "task", "align")
    monkeypatch.setattr(HostEndsJobAfter, "delay", 0.0)
    with pytest.raises(PeerRestarted, match=f"party {HOST} restarted task 'align'"), guarded(jc, Step()) as guard:
        time.sleep(0.3)
        guard.check()


def test_a_kill_here_is_announced_unless_a_peer_ended_the_job(jc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[str] = []
    monkeypatch.setattr(guard_module, "announce_job_failure", lambda *args, nonce: told.append(args[5]))
    monkeypatch.setattr(HostEndsJobAfter, "delay", None)
    monkeypatch.setattr(StepGuard, "ended_here", lambda self, timeout=5.0: None)  # not stopped through flow-server
    with guarded(jc, Step()) as guard:
        guard.announce_kill()
    assert told == [f"run stopped at party {GUEST} (task 'align' was killed)"]


def test_a_kill_is_not_announced_again_when_this_party_ended_the_job(jc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # flow-server's stop posted this party's __job__ failed to its own topic (and to the peers) before the kill
    told: list[str] = []
    monkeypatch.setattr(guard_module, "announce_job_failure", lambda *args, nonce: told.append(args[5]))
    monkeypatch.setattr(HostEndsJobAfter, "delay", None)
    stop = StatusEvent("j", GUEST, JOB_TASK, "failed", 1, f"stopped by a user at party {GUEST}", time.time())
    monkeypatch.setattr(StepGuard, "ended_here", lambda self, timeout=5.0: stop)
    with guarded(jc, Step()) as guard:
        guard.announce_kill()
    assert told == []


def test_a_broker_down_when_the_step_starts_skips_the_pause_check_instead_of_failing_the_task(
    jc: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # tests/faults found it: a broker restarted as a train task started failed the task, and so the job
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise FederationError(f"party {GUEST} cannot read events powerfl-events.j.{GUEST}: Unable to bootstrap")

    monkeypatch.setattr(guard_module, "EventReader", unreachable)
    monkeypatch.setattr(HostEndsJobAfter, "delay", None)
    with guarded(jc, Step()) as guard:
        guard.wait_while_paused()
        guard.check()
    assert "the step starts without waiting for a pause" in caplog.text
