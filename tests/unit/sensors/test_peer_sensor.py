from __future__ import annotations

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.events import StatusEvent, event_topic, latest, wait_state
from airflow_provider_powerfl.sensors.peer import FederatedPeerSensor, PeerTaskFailed


def ev(party: str, status: str, attempt: int = 1, ts: float = 0.0, task: str = "train", reason: str | None = None) -> StatusEvent:
    return StatusEvent("J", party, task, status, attempt, reason, ts)


def test_done_only_when_every_party_reports_the_status():
    known = latest([ev("20000", "running"), ev("20000", "success", ts=1), ev("30000", "running")])
    assert wait_state(known, ["20000", "30000"], "train", "success").pending == ("30000",)
    known = latest([ev("30000", "success")], known)
    assert wait_state(known, ["20000", "30000"], "train", "success").done


def test_a_failure_wins_at_once_but_a_newer_attempt_replaces_it():
    failed = ev("20000", "failed", attempt=1, ts=5, reason="disk full")
    state = wait_state(latest([failed]), ["20000", "30000"], "train", "success")
    assert state.failed == failed and not state.done
    retried = latest([failed, ev("20000", "success", attempt=2, ts=1)])
    assert wait_state(retried, ["20000"], "train", "success").done
    assert wait_state(latest([ev("20000", "success", task="align")]), ["20000"], "train", "success").pending == ("20000",)


def test_peer_failure_message_names_party_task_job_and_reason():
    message = str(PeerTaskFailed(ev("20000", "failed", reason="inputs.train.uri: missing")))
    assert message == "party 20000 reports task 'train' of job 'J' failed (attempt 1): inputs.train.uri: missing"


def test_event_topics_are_legal_and_distinct_per_party():
    assert event_topic("J", "10000") == "powerfl-events.J.10000"
    odd = event_topic("manual__2024-06-01T00:00:00+00:00", "10000")
    assert ":" not in odd and "+" not in odd and odd != event_topic("manual__2024-06-01T00_00_00_00_00", "10000")


def test_sensor_rejects_an_unknown_status_at_parse():
    with pytest.raises(ConfigError, match=r"wait: status 'finished': expected running or success"):
        FederatedPeerSensor(task_id="wait", peer_task="train", status="finished")


def test_sensor_templates_task_parties_and_job():
    assert set(FederatedPeerSensor.template_fields) == {"peer_task", "parties", "job_id"}
