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
    reason="a known gap (docs/reliability.md): the killed task's Spark step outlives it and "
    "finishes with the peer, so the retried step waits for a peer that is done until its recv timeout",
)
def test_a_scheduler_killed_mid_training_and_restarted_completes_the_job(harness: Harness, reference):
    job_id = harness.submit("faults-scheduler-kill")
    harness.wait_training(job_id)
    airflow = harness.party("guest").airflow
    airflow.kill("scheduler")
    time.sleep(2)
    airflow.start(("scheduler",))
    harness.succeeded(job_id, timeout=300)  # the task is found lost in 60 s and retried
    assert harness.model_digests(job_id) == reference
