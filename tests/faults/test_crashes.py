"""A party's processes crash mid-training (kill -9): its broker, its scheduler. The job completes, and with the
model of the fault-free run: nothing lost, nothing applied twice."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Harness

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1500)]


def test_a_broker_killed_mid_training_and_restarted_loses_and_duplicates_nothing(harness: Harness, reference):
    job_id = harness.submit("faults-broker-kill")
    harness.wait_training(job_id)
    broker = harness.brokers["host"]
    broker.kill()
    time.sleep(2)
    broker.up()
    harness.succeeded(job_id)
    assert harness.model_digests(job_id) == reference


@pytest.mark.xfail(
    strict=True,
    reason="a known gap (docs/reliability.md): Airflow's task runner (own process group) outlives the kill and "
    "finishes the step, but the task stays 'running' (its state never reported): no second try came within 300 s",
)
def test_a_scheduler_killed_mid_training_and_restarted_completes_the_job(harness: Harness, reference):
    job_id = harness.submit("faults-scheduler-kill")
    harness.wait_training(job_id)
    airflow = harness.party("guest").airflow
    airflow.kill("scheduler")
    time.sleep(2)
    airflow.start(("scheduler",))
    restarted_at = time.monotonic()
    # once the task is found lost and tried again, the new try finds the former one's step (running still or
    # done: the step and Airflow's task runner have process groups of their own), waits for it, takes its result
    harness.succeeded(job_id, timeout=300)
    print(f"scheduler kill: the job completed at both parties {time.monotonic() - restarted_at:.0f} s after the restart")
    assert harness.model_digests(job_id) == reference
