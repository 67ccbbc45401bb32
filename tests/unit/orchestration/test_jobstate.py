from __future__ import annotations

from airflow_provider_powerfl.federation.events import StatusEvent
from airflow_provider_powerfl.orchestration.jobstate import PeerRestarted, peer_restart


def test_a_peer_running_a_newer_attempt_of_the_step_restarts_it_here():
    mine = StatusEvent("j", "10000", "align", "running", 2, None)
    old = StatusEvent("j", "20000", "align", "running", 1, None)
    other_task = StatusEvent("j", "20000", "train", "running", 2, None)
    failed = StatusEvent("j", "20000", "align", "failed", 2, "boom")
    newer = StatusEvent("j", "20000", "align", "running", 2, None)
    assert peer_restart([mine, old, other_task, failed], "10000", "align", 1) is None
    assert peer_restart([mine, old, newer], "10000", "align", 1) is newer
    assert peer_restart([newer], "10000", "align", 2) is None


def test_peer_restarted_names_the_party_and_both_attempts():
    text = str(PeerRestarted(StatusEvent("j", "20000", "align", "running", 2, None), 1))
    assert "party 20000" in text and "attempt 2" in text and "attempt 1" in text


def test_a_rerun_voids_the_failures_job_ends_and_pauses_before_it_but_not_the_successes():
    from airflow_provider_powerfl.federation.events import latest
    from airflow_provider_powerfl.orchestration.jobstate import (
        JOB_TASK,
        PAUSE_TASK,
        RERUN_TASK,
        current,
        current_known,
        job_ended,
        job_failure,
        rerun_since,
    )

    def ev(party: str, task: str, status: str, at: float) -> StatusEvent:
        return StatusEvent("j", party, task, status, 1, None, at)

    before = [ev("2", "align", "success", 1.0), ev("2", "train", "running", 2.0), ev("2", PAUSE_TASK, "paused", 2.5),
              ev("2", "train", "failed", 3.0), ev("2", JOB_TASK, "failed", 4.0)]  # fmt: skip
    assert job_failure(before, "1") is not None and job_ended(latest(before), ["2"]) is not None
    rerun = ev("1", RERUN_TASK, "running", 5.0)
    events = [*before, rerun]
    assert rerun_since(events) == 5.0
    assert current(events) == [before[0], rerun]  # the success stands
    assert job_failure(events, "1", since=5.0) is None and job_ended(latest(events), ["2"]) is None
    assert set(current_known(latest(events))) == {("2", "align"), ("1", RERUN_TASK)}
    again = ev("2", JOB_TASK, "failed", 6.0)  # a failure after the rerun counts
    assert job_failure([*events, again], "1", since=5.0) is again and job_ended(latest([*events, again]), ["2"]) is again
