"""A peer's view from its events, and the pause in force (flow_server.peers, jobstate.job_pause)."""

from __future__ import annotations

from airflow_provider_powerfl.federation.events import StatusEvent, latest
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, PAUSE_TASK
from airflow_provider_powerfl.plugins.flow_server.peers import first_job_ends, paused, peer_view

STEPS = ["align", "train"]


def event(party: str, task: str, status: str, at: float, reason: str | None = None) -> StatusEvent:
    return StatusEvent("job", party, task, status, 1, reason, at)


def test_the_newest_pause_or_resume_of_any_party_is_in_force():
    known = latest([event("1", PAUSE_TASK, "paused", 10.0), event("2", PAUSE_TASK, "resumed", 20.0)])
    assert paused(known) is None
    known = latest([event("1", PAUSE_TASK, "paused", 30.0)], known)
    assert paused(known).party_id == "1"


def test_a_peer_shows_its_steps_its_pause_and_its_last_error():
    known = latest([event("2", "align", "running", 1.0), event("2", "align", "success", 2.0)])
    view = peer_view(known, "2", "host", STEPS)
    assert view["state"] == "running" and view["steps"]["align"]["state"] == "success" and view["steps"]["train"]["state"] is None
    assert view["local"] is False and view["error"] is None
    paused_view = peer_view(latest([event("1", PAUSE_TASK, "paused", 3.0)], known), "2", "host", STEPS)
    assert paused_view["state"] == "paused"
    ended = latest([event("2", "train", "failed", 4.0, "boom"), event("2", JOB_TASK, "failed", 5.0, "stopped by a user")], known)
    view = peer_view(ended, "2", "host", STEPS)
    assert view["state"] == "failed" and view["error"]["reason"] == "stopped by a user" and view["error"]["step"] is None
    assert peer_view({}, "2", "host", STEPS)["state"] == "pending"
    done = latest([event("2", "train", "success", 6.0)], known)
    assert peer_view(done, "2", "host", STEPS)["state"] == "success"


def test_a_job_end_is_told_by_its_first_reason_not_by_the_step_it_killed():
    # a user's stop ends the job; the step it killed then posts its own job failure: the stop is the reason
    events = [
        event("2", "align", "running", 1.0),
        event("2", JOB_TASK, "failed", 2.0, "stopped by a user at party 2"),
        event("2", JOB_TASK, "failed", 3.0, "task 'align' failed at party 2: step align was killed"),
    ]
    known = {**latest(events), **first_job_ends(events)}
    assert peer_view(known, "2", "host", STEPS)["error"]["reason"] == "stopped by a user at party 2"


def test_a_step_running_when_its_party_ended_the_job_shows_failed_there():
    # a stop kills the running step, which posts no failure of its own: the job's end closes it
    events = [event("2", "align", "success", 1.0), event("2", "train", "running", 2.0),
              event("2", JOB_TASK, "failed", 3.0, "stopped by a user at party 2")]  # fmt: skip
    view = peer_view({**latest(events), **first_job_ends(events)}, "2", "host", STEPS)
    assert view["steps"]["train"]["state"] == "failed" and view["steps"]["train"]["end_date"].startswith("1970-01-01T00:00:03")
    assert view["steps"]["align"]["state"] == "success" and view["state"] == "failed"


def test_a_step_whose_running_came_just_after_its_partys_job_end_shows_failed_too():
    # CI run 10: a stop raced the start of the guest's align, whose `running` was stamped after the job end
    events = [event("2", JOB_TASK, "failed", 3.0, "stopped by a user at party 2"), event("2", "align", "running", 3.2)]
    view = peer_view({**latest(events), **first_job_ends(events)}, "2", "host", STEPS)
    assert view["steps"]["align"]["state"] == "failed" and view["state"] == "failed"
