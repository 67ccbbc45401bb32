"""GET /flow-server/jobs's filters on the conf's parties (party, role) and paused: over every run, totals included.

They were applied to one ``/api/v2`` run list call, which Airflow caps at ``[api] maximum_page_limit`` (100)
runs whatever it is asked: past the 100 newest runs a filtered total was wrong. The list now reads the DB
(flow_server.listing, faked here over 250 runs) and filters every matching run.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_powerfl.plugins.flow_server import jobs

ME, HOST, HOST2 = "10000", "20000", "30000"
PIPELINE = "powerfl_pipeline_x"


def make_runs(n: int) -> list[dict[str, Any]]:
    """`n` runs, newest first: every third with a second host, every fifth with this party as host, two running."""
    runs = []
    for i in range(n):
        parties = [f"{ME}={'host' if i % 5 == 0 else 'guest'}", f"{HOST}={'guest' if i % 5 == 0 else 'host'}"]
        if i % 3 == 0:
            parties.append(f"{HOST2}=host")
        state = "running" if i in (1, 180) else "failed" if i % 7 == 0 else "success"
        runs.append({"dag_run_id": f"job-{i:04d}", "dag_id": PIPELINE, "state": state, "conf": {"parties": parties},
                     "start_date": "2026-12-07T10:00:00Z", "end_date": None})  # fmt: skip
    return runs


class FakeListing:
    """``listing.dag_runs`` over `runs` (newest first); counts the calls and the rows it returned."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.calls = 0

    def dag_runs(self, dag_ids, states, since, offset=0, limit=None):
        self.calls += 1
        selected = [r for r in self.runs if r["dag_id"] in dag_ids and (not states or r["state"] in states)]
        return (selected[offset : offset + limit] if limit is not None else selected), len(selected)


@pytest.fixture
def listing(monkeypatch):
    runs = make_runs(250)
    fake = FakeListing(runs)
    paused = {"job-0180"}  # a paused running job past the first 100 runs
    monkeypatch.setattr(jobs.listing, "pipeline_dags", lambda _user: {PIPELINE})
    monkeypatch.setattr(jobs.listing, "dag_runs", fake.dag_runs)
    monkeypatch.setattr(jobs.listing, "task_states", lambda runs: {r["dag_run_id"]: [] for r in runs})
    monkeypatch.setattr(jobs, "party_and_registry", lambda: (type("Party", (), {"party_id": ME})(), None))
    monkeypatch.setattr(jobs, "paused_jobs", lambda runs, _registry, _me: {r["dag_run_id"] for r in runs} & paused)

    def call(**query: Any) -> dict[str, Any]:
        args = {"state": None, "pipeline": None, "party": None, "role": None, "since": None, "offset": 0, "limit": 50}
        return jobs.list_jobs(object(), **{**args, **query})

    call.runs, call.listing = runs, fake
    return call


def test_the_party_filter_counts_every_run_not_only_the_first_hundred(listing):
    expected = [r["dag_run_id"] for r in listing.runs if any(p.startswith(HOST2) for p in r["conf"]["parties"])]
    page = listing(party=HOST2, offset=40, limit=20)
    assert page["total"] == len(expected) == 84
    assert [j["job_id"] for j in page["jobs"]] == expected[40:60]  # newest first, past the 100th run


def test_the_role_filter_counts_every_run(listing):
    page = listing(role="host", limit=500)
    assert page["total"] == 50 and len(page["jobs"]) == 50
    assert all(j["role"] == "host" for j in page["jobs"])


def test_paused_is_found_past_the_first_page_and_running_leaves_it_out(listing):
    page = listing(state=["paused"])
    assert page["total"] == 1 and [j["job_id"] for j in page["jobs"]] == ["job-0180"]
    assert page["jobs"][0]["state"] == "paused"
    running = listing(state=["running"])
    assert [j["job_id"] for j in running["jobs"]] == ["job-0001"] and running["total"] == 1


def test_without_those_filters_the_db_pages_and_counts(listing):
    page = listing(offset=200, limit=50)
    assert page["total"] == 250 and [j["job_id"] for j in page["jobs"]][:1] == ["job-0200"]
    assert page["jobs"][3]["state"] == "failed" and listing.listing.calls == 1  # job-0203
