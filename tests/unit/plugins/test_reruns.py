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


def test_the_watcher_reruns_a_failed_run_once_a_peer_reran_it_after_its_last_step_start(monkeypatch):
    from types import SimpleNamespace

    from airflow_provider_powerfl.plugins.flow_server import reruns

    me, peer = "1", "2"
    run = {"dag_id": "pipe", "job_id": "job", "conf": {"parties": [f"{me}=guest", f"{peer}=host"]}, "nonce": "00" * 16,
           "last_start": 10.0}  # fmt: skip
    topic: list[StatusEvent] = []
    cleared: list[tuple[str, str]] = []

    class Reader:  # this party's topic of the run: each poll hands over what came since the last one
        def __init__(self, *_args, **_kwargs):
            self.read = 0

        def poll(self, _timeout):
            new, self.read = topic[self.read :], len(topic)
            return new

        def close(self):
            pass

    monkeypatch.setattr(reruns, "party_and_registry", lambda: (SimpleNamespace(party_id=me), None))
    monkeypatch.setattr(reruns, "EventReader", Reader)
    monkeypatch.setattr(reruns, "failed_runs", lambda _me: [run])
    monkeypatch.setattr(reruns, "clear_failed", lambda dag_id, job_id: cleared.append((dag_id, job_id)) or ["train"])
    watcher = reruns.RerunWatcher()
    topic += [StatusEvent("job", peer, JOB_TASK, "failed", 1, "stopped", 5.0)]
    assert watcher.scan() == [] and cleared == []
    topic += [StatusEvent("job", me, RERUN_TASK, "running", 1, "mine: the route clears", 20.0)]
    assert watcher.scan() == []  # this party's own rerun is its route's business
    topic += [StatusEvent("job", peer, RERUN_TASK, "running", 1, "rerun by a user at party 2", 8.0)]
    assert watcher.scan() == []  # older than this run's last step start: this run reran after it already
    topic += [StatusEvent("job", peer, RERUN_TASK, "running", 1, "rerun by a user at party 2", 30.0)]
    assert watcher.scan() == ["job"] and cleared == [("pipe", "job")]
