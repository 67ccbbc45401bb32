"""A party's processes crash mid-training (kill -9): its broker, its scheduler, its triggerer. The job completes,
and with the model of the fault-free run: nothing lost, nothing applied twice."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import WAITING, Harness

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1500)]

RECOVERY = 60.0  # s: the goal's bound on a job ending everywhere once the crashed process is back


def test_a_broker_killed_mid_training_and_restarted_loses_and_duplicates_nothing(harness: Harness, reference):
    job_id = harness.submit("faults-broker-kill")
    harness.wait_training(job_id)
    broker = harness.brokers["host"]
    broker.kill()
    time.sleep(2)
    broker.up()
    harness.succeeded(job_id)
    assert harness.model_digests(job_id) == reference


def restart_mid_training(harness: Harness, job_id: str, component: str) -> dict[str, float]:
    """Kill -9 the guest's `component` (its process group) once training is under way, start it again; each party's
    end of the job in seconds after the restart."""
    harness.wait_training(job_id)
    airflow = harness.party("guest").airflow
    airflow.kill(component)
    time.sleep(2)
    airflow.start((component,))
    restarted_at = time.monotonic()
    ended_at: dict[str, float] = {}
    harness.succeeded(job_id, timeout=600, ended_at=ended_at)
    after = {role: round(at - restarted_at, 1) for role, at in ended_at.items()}
    print(f"{component} kill: the job completed at both parties, s after the restart: {after}")
    return after


def test_a_scheduler_killed_mid_training_and_restarted_completes_the_job(harness: Harness, reference):
    # the guest's task runner and step (process groups of their own) outlive the kill and finish with the host; the
    # restarted scheduler resets the dead one's task (ORPHAN_CHECK), and the new try takes the former step's result
    after = restart_mid_training(harness, harness.submit("faults-scheduler-kill"), "scheduler")
    assert after["guest"] - max(0.0, after["host"]) <= RECOVERY, after
    assert harness.model_digests("faults-scheduler-kill") == reference


def test_a_triggerer_killed_while_a_peer_sensor_waits_and_restarted_completes_the_job(harness: Harness, reference):
    # the guest's peers_trained sensor waits deferred in the triggerer beside the training; the restarted triggerer
    # takes over the dead one's trigger (30 s without its heartbeat), which reads the peers' events from the start
    job_id = harness.submit("faults-triggerer-kill", WAITING)
    after = restart_mid_training(harness, job_id, "triggerer")
    assert after["guest"] - max(0.0, after["host"]) <= RECOVERY, after
    assert harness.model_digests(job_id) == reference
