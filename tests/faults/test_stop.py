"""A stop at one party while a step runs leaves nothing running at any party: no step process, no Spark JVM."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Harness
from tests.support.ns_parties import is_step
from tests.support.parties import until

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(900)]


def test_a_stop_during_training_ends_the_job_at_every_party_and_leaves_no_step_running(harness: Harness, reference):
    job_id = harness.submit("faults-stop")
    harness.wait_training(job_id)
    response = harness.call("host", "POST", f"/jobs/{job_id}/stop")
    assert response.status_code == 200, response.text
    stopped_at = time.monotonic()
    views = harness.wait_ended(job_id, timeout=60)
    assert {r: v["state"] for r, v in views.items()} == {"guest": "failed", "host": "failed"}, views

    def steps_left() -> dict[str, list[int]]:
        return {role: [pid for pid in harness.party(role).airflow.stragglers() if is_step(pid)] for role in ("guest", "host")}

    until(lambda: not any(steps_left().values()), 60, lambda: f"no step process left at any party: {steps_left()}", poll=1.0)
    print(f"stop: both parties failed and without a step process {time.monotonic() - stopped_at:.0f} s after the stop")
