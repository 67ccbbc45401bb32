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
