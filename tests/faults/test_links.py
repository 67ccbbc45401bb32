"""Links between the parties' networks drop: a short cut heals with the same model, a long one fails the job
at every party with the reason, and a rerun then completes. A slow link (200 ms a round trip) changes nothing."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import SILENCE, Harness
from tests.support.parties import until

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1500)]

SHORT_CUT = 8.0  # seconds: well under SILENCE
DELAY = 0.1  # seconds each way between the parties: 200 ms a round trip (Network.delay, a relay: no tc netem here)


def test_a_short_cut_during_training_heals_and_the_model_is_the_fault_free_one(harness: Harness, reference):
    job_id = harness.submit("faults-short-cut")
    harness.wait_training(job_id)
    harness.network.cut("guest", "host")
    time.sleep(SHORT_CUT)
    harness.network.heal()
    harness.succeeded(job_id)
    assert harness.model_digests(job_id) == reference


def test_a_cut_beyond_the_silence_timeout_fails_the_job_at_every_party_with_the_reason_and_a_rerun_completes(
    harness: Harness, reference
):
    job_id = harness.submit("faults-long-cut")
    harness.wait_training(job_id)
    harness.network.cut("guest", "host")
    cut_at = time.monotonic()
    try:
        views = harness.wait_ended(job_id, timeout=SILENCE + 60)
        ended_in = time.monotonic() - cut_at
    finally:
        harness.network.heal()
    assert {r: v["state"] for r, v in views.items()} == {"guest": "failed", "host": "failed"}, views
    reasons = harness.reasons(views)
    assert all("has sent nothing" in reason for reason in reasons.values()), reasons
    print(f"long cut: failed at both parties {ended_in:.0f} s after the cut (silence timeout {SILENCE:g} s): {reasons}")
    response = harness.call("guest", "POST", f"/jobs/{job_id}/rerun")
    assert response.status_code == 200, response.text
    until(lambda: all(harness.view(r, job_id).get("state") != "failed" for r in ("guest", "host")), 120,
          f"the rerun of {job_id} to reach both parties")  # fmt: skip
    harness.succeeded(job_id)
    assert harness.model_digests(job_id) == reference


def test_a_job_over_a_link_with_200_ms_round_trips_completes_with_the_fault_free_model(harness: Harness, reference):
    harness.network.delay("guest", "host", DELAY)
    started = time.monotonic()
    try:
        job_id = harness.submit("faults-latency")
        harness.succeeded(job_id)
    finally:
        relayed = harness.network.undelay()
    print(
        f"latency {2 * DELAY:g} s a round trip: completed in {time.monotonic() - started:.0f} s, {len(relayed)} connections relayed"
    )
    brokers = {harness.brokers[role].address for role in ("guest", "host")}
    assert brokers <= set(relayed), relayed  # each party's messages to the other went through the delay
    assert harness.model_digests(job_id) == reference
