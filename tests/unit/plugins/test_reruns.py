"""What a rerun clears, and the peers' view after it (flow_server.reruns, flow_server.peers)."""

from __future__ import annotations

from airflow_provider_powerfl.federation.events import StatusEvent, latest
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, RERUN_TASK, current
from airflow_provider_powerfl.plugins.flow_server.peers import first_job_ends, peer_view
from airflow_provider_powerfl.plugins.flow_server.reruns import clear_body, tasks_to_clear


def test_a_rerun_clears_the_failed_steps_and_what_follows_them():
    states = {"align": "success", "train": "failed", "predict": "upstream_failed", "summary": "skipped", "x": None}
    assert tasks_to_clear(states, run_failed=True) == ["predict", "summary", "train"]
    assert tasks_to_clear({"a": "success", "b": "skipped"}, run_failed=False) == []  # a successful run's skip stays
    body = clear_body("job", ["train"])
    assert body["include_downstream"] and body["reset_dag_runs"] and not body["dry_run"] and body["dag_run_id"] == "job"


def test_after_a_rerun_a_peer_shows_its_successes_and_no_longer_its_old_end():
    def ev(task: str, status: str, at: float, party: str = "2") -> StatusEvent:
        return StatusEvent("job", party, task, status, 1, "stopped by a user" if task == JOB_TASK else None, at)

    events = [ev("align", "success", 1.0), ev("train", "running", 2.0), ev(JOB_TASK, "failed", 3.0)]
    assert peer_view({**latest(events), **first_job_ends(events)}, "2", "host", ["align", "train"])["state"] == "failed"
    events = current([*events, ev(RERUN_TASK, "running", 4.0, party="1")])
    view = peer_view({**latest(events), **first_job_ends(events)}, "2", "host", ["align", "train"])
    assert view["error"] is None and view["state"] == "running"
    assert view["steps"]["align"]["state"] == "success" and view["steps"]["train"]["state"] is None
