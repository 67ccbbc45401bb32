"""flow-server's job list (the dashboard's ``GET /flow-server/jobs``) with many jobs recorded, vs Airflow's own run list.

One real party Airflow (tests/support/parties.py's launcher) with two pipeline DAGs, paused so nothing runs;
``--jobs`` DAG runs are recorded in its metadata DB by Airflow's own ``create_dagrun`` (bench/flow_seed.py):
the newest queued and running (some of them paused by a signed ``__pause__`` event, the peers' step events
on this party's broker, as a live job has them), the rest success (80 %) and failed at some step; 60 % started
here, 40 % by the host's invitation; a fifth in three-party jobs of the second pipeline. Then, over HTTP with
a real token, each query is timed ``--repeat`` times, interleaved: the default page and the filters state,
pipeline, party, role and paused, and Airflow's ``GET /api/v2/dags/~/dagRuns`` with the same page size as the
baseline. Each reply's ``total`` is checked against the recorded plan. Goal: <= 200 ms at 1,000 jobs.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.orchestration.jobstate import PAUSE_TASK
from bench import REPO, brokers
from bench.flow_party import OneParty, loadavg, one_party, summarize, timed
from tests.support.parties import pipeline_definition

PIPELINES = ("powerfl_bench_flow_lr", "powerfl_bench_flow_lr3")
GOAL_MS = 200.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=1000, help="DAG runs (jobs) recorded before measuring")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls of each query (after 2 untimed)")
    parser.add_argument("--limit", type=int, default=50, help="page size (flow-server's default: 50)")
    parser.add_argument("--broker", default="guest", help="the party's broker (scripts/kafka name; started if down)")
    parser.add_argument("--json", action="store_true", help="accepted for scripts: the last line printed is always the JSON")


def _pipelines() -> dict[str, Any]:
    def three(guest: str, host: str, host2: str) -> dict[str, Any]:
        definition = pipeline_definition(guest, host, PIPELINES[1])
        definition["parties"].append(f"{host2}=host")
        return definition

    return {PIPELINES[0]: lambda guest, host, _host2: pipeline_definition(guest, host, PIPELINES[0]), PIPELINES[1]: three}


def plan(n: int, me: str, peers: tuple[str, str], now: datetime) -> list[dict[str, Any]]:
    """The jobs to record, oldest first: a job every 10 minutes; the newest queued, then running, the rest finished."""
    rng = random.Random(20)
    queued, running = max(1, min(5, n // 100)), max(2, min(12, n // 50))
    jobs = []
    for i in range(n):
        rank = n - 1 - i  # 0: the newest
        state = (
            "queued" if rank < queued else "running" if rank < queued + running else "success" if rng.random() < 0.8 else "failed"
        )
        three = rng.random() < 0.2
        dag_id = PIPELINES[1] if three else PIPELINES[0]
        parties = [f"{me}=guest", f"{peers[0]}=host"] + ([f"{peers[1]}=host"] if three else [])
        initiator = me if rng.random() < 0.6 else peers[0]
        run_id = f"{dag_id.removeprefix('powerfl_')}-{i:05d}-{rng.getrandbits(16):04x}"
        nonce = new_nonce().hex()
        conf: dict[str, Any] = {
            "job_id": run_id, "parties": parties, "common-args": {"train": {"max_iter": 10, "learning_rate": 0.15}},
            "parties-args": {p.split("=")[0]: {"inputs": {"train": {"uri": f"/data/{p}.csv", "format": "csv"}},
                                               "work_dir": "/data/out"} for p in parties},
        }  # fmt: skip
        if initiator != me:
            conf.update(initiator=initiator, nonce=nonce)
        run_after = now - timedelta(minutes=10 * (rank + 1))
        start = None if state == "queued" else run_after + timedelta(seconds=5)
        end = start + timedelta(seconds=rng.uniform(60, 900)) if state in ("success", "failed") and start else None
        jobs.append({
            "run_id": run_id, "dag_id": dag_id, "state": state, "conf": conf, "done": rng.random(),
            "run_after": run_after.isoformat(), "start": start and start.isoformat(), "end": end and end.isoformat(),
            "xcom_nonce": nonce if initiator == me and state == "running" else None,
            "nonce": nonce, "parties": [p.split("=")[0] for p in parties], "paused": False,
        })  # fmt: skip
    for job in [j for j in jobs if j["state"] == "running"][::4]:
        job["paused"] = True
    return jobs


def record(setup: OneParty, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pause the pipeline DAGs (nothing runs), record the jobs in the DB, post the running jobs' events."""
    with setup.party.client() as client:
        for dag_id in PIPELINES:
            client._send("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    plan_file = setup.root / "plan.json"
    plan_file.write_text(json.dumps({"jobs": jobs}))
    airflow = setup.party.airflow
    done = subprocess.run(
        [sys.executable, "-m", "bench.flow_seed", str(plan_file)], env=airflow.environ(), cwd=REPO,
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench.flow_seed exited {done.returncode}:\n{done.stderr[-3000:]}")
    recorded = json.loads(done.stdout.strip().splitlines()[-1])
    registry, me = setup.registry(), setup.party.party_id
    events = 0
    for job in (j for j in jobs if j["state"] == "running"):
        nonce = bytes.fromhex(job["nonce"])
        for peer in job["parties"][1:]:  # each peer's first steps, as its guard posts them to this party's broker
            for task, status in (("align", "running"), ("align", "success"), ("train", "running")):
                event = StatusEvent(job["run_id"], peer, task, status, 1, None, 0.0)
                publish_event(registry, setup.key(peer), event, [me], nonce=nonce, timeout=30)
                events += 1
        if job["paused"]:
            event = StatusEvent(job["run_id"], me, PAUSE_TASK, "paused", 1, "paused by the bench", 0.0)
            publish_event(registry, setup.key(me), event, [me], nonce=nonce, timeout=30)
            events += 1
    return {**recorded, "events": events}


def queries(jobs: list[dict[str, Any]], me: str, peers: tuple[str, str]) -> dict[str, tuple[dict[str, str], int]]:
    """Query name -> (flow-server's query parameters, the total the plan says it must report)."""
    count = lambda keep: sum(1 for j in jobs if keep(j))  # noqa: E731
    state = lambda j: "paused" if j["paused"] else j["state"]  # noqa: E731
    return {
        "default": ({}, len(jobs)),
        "state": ({"state": "failed"}, count(lambda j: state(j) == "failed")),
        "pipeline": ({"pipeline": PIPELINES[1]}, count(lambda j: j["dag_id"] == PIPELINES[1])),
        "party": ({"party": peers[1]}, count(lambda j: peers[1] in j["parties"])),
        "role": ({"role": "guest"}, count(lambda j: me in j["parties"])),
        "paused": ({"state": "paused"}, count(lambda j: state(j) == "paused")),
    }


def measure(setup: OneParty, cases: dict[str, tuple[dict[str, str], int]], repeat: int, limit: int) -> dict[str, Any]:
    """Each query `repeat` times (round robin, after 2 untimed rounds) and the baseline; ms summaries and totals."""
    party = setup.party
    headers = {"Authorization": f"Bearer {party.token()}"}
    calls = {f"flow_server_{name}": (f"{party.api}/jobs", {**params, "limit": str(limit)}) for name, (params, _) in cases.items()}
    calls["airflow_dag_runs"] = (f"{party.url}/api/v2/dags/~/dagRuns", {"limit": str(limit), "order_by": "-run_after"})
    samples: dict[str, list[float]] = {name: [] for name in calls}
    incomplete: list[str] = []
    totals: dict[str, int] = {}
    with httpx.Client(headers=headers, timeout=120) as http:
        for round_ in range(repeat + 2):
            for name, (url, params) in calls.items():
                ms, response = timed(lambda url=url, params=params: http.get(url, params=params))
                response.raise_for_status()
                body = response.json()
                totals[name] = body.get("total", body.get("total_entries"))
                if name == "flow_server_default":  # a finished job's row must say so (its steps all read)
                    incomplete = [j["job_id"] for j in body["jobs"] if j["state"] == "success" and j["progress"] != 1.0]
                if round_ >= 2:
                    samples[name].append(ms)
            if round_ >= 2:
                print(f"round {round_ - 1}/{repeat}: " + ", ".join(f"{n.removeprefix('flow_server_')} {samples[n][-1]:.0f} ms" for n in calls),
                      flush=True)  # fmt: skip
    out = {name: {**summarize(ms), "total": totals[name]} for name, ms in samples.items()}
    out["flow_server_default"]["success_rows_below_100_percent"] = len(incomplete)
    for name, (_, expected) in cases.items():
        out[f"flow_server_{name}"]["expected_total"] = expected
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    logging.getLogger("kafka").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="powerfl-bench-flow-jobs-"))
    broker = brokers(args.broker)[0]
    load_before = loadavg()
    with one_party(root, broker, _pipelines()) as setup:
        me, peers = setup.party.party_id, setup.peers
        jobs = plan(args.jobs, me, peers, datetime.now(UTC))
        ms, recorded = timed(lambda: record(setup, jobs))
        print(f"recorded {recorded} in {ms / 1000:.1f} s at {setup.party.url} (load {loadavg()})", flush=True)
        results = measure(setup, queries(jobs, me, peers), args.repeat, args.limit)
    default, baseline = results["flow_server_default"], results["airflow_dag_runs"]
    worst = max((v for k, v in results.items() if k.startswith("flow_server_")), key=lambda v: v["median_ms"])
    wrong = sorted(k for k, v in results.items() if "expected_total" in v and v["total"] != v["expected_total"])
    for name, value in results.items():
        print(f"{name:28s} median {value['median_ms']:7.1f} ms  p95 {value['p95_ms']:7.1f} ms  total {value['total']}"
              + (f" (expected {value['expected_total']})" if "expected_total" in value else ""))  # fmt: skip
    return {
        "bench": "flow-server-jobs",
        "jobs": args.jobs,
        "repeat": args.repeat,
        "limit": args.limit,
        "recorded": recorded,
        "queries": results,
        "median_ms": default["median_ms"],
        "p95_ms": default["p95_ms"],
        "baseline_median_ms": baseline["median_ms"],
        "baseline_p95_ms": baseline["p95_ms"],
        "ratio": round(default["median_ms"] / baseline["median_ms"], 2),
        "worst_filter_median_ms": worst["median_ms"],
        "goal_ms": GOAL_MS,
        "goal_met": default["p95_ms"] <= GOAL_MS,  # the dashboard's list call (its default page)
        "filters_within_goal": sorted(k for k, v in results.items() if k.startswith("flow_server_") and v["p95_ms"] <= GOAL_MS),
        "wrong_totals": wrong,
        "load": {"before": load_before, "after": loadavg()},
    }
