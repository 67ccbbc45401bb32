"""A broker's disk fills mid-training: Kafka fails its only log dir and stops ("No space left on device"). The job
fails at every party with a reason, within the silence timeout and the goal's 60 s, and leaves no half-written
result at either party; once the disk has room and the broker is back, a rerun completes with the fault-free model.

The broker's data lives on a tmpfs of its own for this test (NamespacedBroker.small_disk), filled by a file.
While the host's broker is down its flow-server still shows the job (from its Airflow; the peers' states unknown),
and its step's reason names its own broker, not the guest (OwnInboxUnreachable).
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import SILENCE, Harness

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1500)]

DISK_MB = 256  # the host broker's disk: the harness's jobs so far take a few MB of it
RECOVERY = 60.0  # s: the goal's bound on the job ending everywhere after the silence timeout


def test_a_broker_disk_full_mid_training_fails_the_job_at_every_party_with_no_result_and_a_rerun_completes(
    harness: Harness, reference
):
    broker = harness.brokers["host"]
    broker.small_disk(DISK_MB)
    try:
        job_id = harness.submit("faults-disk-full")
        harness.wait_training(job_id)
        broker.fill_disk()
        filled_at = time.monotonic()
        ended_at: dict[str, float] = {}
        views = harness.wait_ended(job_id, SILENCE + 300, ended_at)
        after = {role: round(at - filled_at, 1) for role, at in ended_at.items()}
        reasons = harness.reasons(views)
        print(f"disk full: states {[v['state'] for v in views.values()]}, s after the fill {after}, reasons {reasons}")
        assert {role: view["state"] for role, view in views.items()} == {"guest": "failed", "host": "failed"}, views
        assert max(after.values()) <= SILENCE + RECOVERY, after
        assert all(reasons.values()), reasons
        host = harness.party("host").party_id
        assert "its own broker" in reasons["host"] and f"the fault is at party {host}" in reasons["host"], reasons
        guest = harness.party("guest").party_id
        assert views["host"]["peers_unknown"] and views["host"]["parties"][guest]["state"] == "unknown", views["host"]
        assert "No space left on device" in (broker.dir / "logs" / "server.log").read_text(errors="replace")
        for role in ("guest", "host"):  # the step's result.json marks a complete output: none is there
            out = harness.parties.work_dir / job_id / harness.party(role).party_id / "train"
            assert not (out / "result.json").exists(), sorted(p.name for p in out.iterdir())
            assert harness.call(role, "GET", f"/jobs/{job_id}/models").json()["models"] == []
    finally:
        broker.free_disk()
    if broker.pid() is None:  # Kafka stopped on its failed log dir: started again on what it had written
        broker.up()
    rerun = harness.submit("faults-disk-full-rerun")
    harness.succeeded(rerun)
    assert harness.model_digests(rerun) == reference
