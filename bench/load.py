"""Many jobs at once, and jobs back to back: N two-party jobs through the REST API, and a soak that looks for leaks.

Two real parties (tests/support/ns_parties.py: each in its own network namespace with its own Kafka broker,
Airflow and Spark steps; root only) get a pipeline of align (PSI) then hetero LR. ``--jobs N`` submits N jobs
at the guest's flow-server at once, every ``--credit-every``-th on default_credit (30,000 rows), the others on
breast, and waits until each has ended at both parties: completed (success at both), failed, and each job's
wall time from its submit until it ended at both. The brokers' and the Airflows' resident memory (every
process of a party's AIRFLOW_HOME but its Spark steps, which are counted apart) is sampled at each poll; the
peaks are reported. ``--soak-minutes M`` then runs breast jobs back to back for M minutes and compares, once
each job ended, the parties' processes, open file descriptors, Kafka topics and broker data size at the first
and the last job: what grew is a leak (topics grow by the job's own until retention).
"""

from __future__ import annotations

import argparse
import functools
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.flow_party import loadavg
from bench.load_probe import Api, footprint, rss_peaks
from tests.support.ns_parties import NamespacedParties, namespaced_two_parties
from tests.support.parties import pipeline_definition

PIPELINE = "powerfl_load_lr"
DATASETS = Path("/work/shared/datasets/fate")
CREDIT_TRAIN = {"max_iter": 1, "batch_size": 2048}
# a job runs a Spark step (a JVM and a Python driver, ~0.7 GB) at each party: on the 2-core machine two jobs at once
# keep both cores busy, and the rest wait queued (the pipeline's max_active_jobs) instead of all timing out together
MAX_ACTIVE_JOBS = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=10, help="jobs submitted at once (0: the soak alone)")
    parser.add_argument("--parties", type=int, choices=[2], default=2, help="parties per job (two: a guest and a host)")
    parser.add_argument("--credit-every", type=int, default=5, help="every K-th job trains on default_credit (0: none)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for all jobs to end")
    parser.add_argument("--max-active-jobs", type=int, default=MAX_ACTIVE_JOBS,
                        help="the pipeline's max_active_jobs: jobs a party runs at once, the others queued")  # fmt: skip
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="then run jobs back to back this long")
    parser.add_argument("--json", action="store_true", help="accepted for scripts: the last line printed is always the JSON")


def load_pipeline(guest: str, host: str, max_active_jobs: int = MAX_ACTIVE_JOBS) -> dict[str, Any]:
    definition = pipeline_definition(guest, host, PIPELINE)
    definition["tasks"] = {task: definition["tasks"][task] for task in ("align", "train")}
    definition["max_active_jobs"] = max_active_jobs
    return definition


def parameters(world: NamespacedParties, credit: bool) -> dict[str, Any]:
    """The seed's job parameters: breast, or default_credit (copied under the parties' root, which their policy allows)."""
    parties = world.parties
    if not credit:
        return parties.job_parameters()
    data = parties.root / "data" / "credit"
    if not data.exists():
        data.mkdir(parents=True)
        for side in ("guest", "host"):
            shutil.copy(DATASETS / f"default_credit_hetero_{side}.csv", data / f"{side}.csv")
    params = parties.job_parameters(train=CREDIT_TRAIN)
    guest, host = (params["parties-args"][p.party_id] for p in parties.parties)
    guest["input"] = {"uri": str(data / "guest.csv"), "format": "csv", "label_column": "y"}
    host["input"] = str(data / "host.csv")
    for args in (guest, host):
        args.pop("test-input")
    return params


def run_jobs(world: NamespacedParties, apis: dict[str, Api], kinds: list[bool], timeout: float) -> list[dict[str, Any]]:
    """Submit one job per entry of `kinds` (True: default_credit) at once; each job's outcome once all ended."""
    jobs: dict[str, dict[str, Any]] = {}
    for i, credit in enumerate(kinds):
        job_id = apis["guest"].submit(PIPELINE, parameters(world, credit))
        jobs[job_id] = {"job_id": job_id, "data": "default_credit" if credit else "breast", "submitted": time.monotonic()}
        print(f"job {i + 1}/{len(kinds)} {job_id} submitted ({jobs[job_id]['data']})", flush=True)
    peaks: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while any("wall_s" not in job for job in jobs.values()) and time.monotonic() < deadline:
        states = {role: api.states(PIPELINE) for role, api in apis.items()}
        for job_id, job in jobs.items():
            ends = [states[role].get(job_id) for role in apis]  # None: not listed yet (or that poll failed)
            job["last_seen"] = dict(zip(apis, ends, strict=True))  # a job that never ends at both shows where it stuck
            if "wall_s" not in job and all(state in ("success", "failed") for state in ends):
                job.update(wall_s=round(time.monotonic() - job["submitted"], 1), states=dict(zip(apis, ends, strict=True)))
                print(f"{job_id} ended: {job['states']} in {job['wall_s']} s (load {loadavg()})", flush=True)
        rss_peaks(world, peaks)
        time.sleep(5)
    for job in jobs.values():
        job.pop("submitted")
        job.setdefault("states", {role: f"not ended: {state}" for role, state in job.pop("last_seen", {}).items()})
    return [*jobs.values(), {"rss_peak_mb": peaks}]


def soak(world: NamespacedParties, apis: dict[str, Api], minutes: float) -> dict[str, Any]:
    """Breast jobs one after another for `minutes`; the footprint once the first ended (every component warm) and once
    the last ended: what grew between is a leak, but for the topics each job adds until retention."""
    started = time.monotonic()
    walls: list[float] = []
    failed = 0

    def one() -> None:
        nonlocal failed
        (job, _) = run_jobs(world, apis, [False], timeout=900)
        walls.append(job.get("wall_s", -1.0))
        failed += job["states"] != {"guest": "success", "host": "success"}

    one()
    first = footprint(world)
    print(f"soak: footprint after job 1 {first}", flush=True)
    while time.monotonic() - started < minutes * 60:
        one()
    last = footprint(world)
    print(f"soak: footprint after job {len(walls)} {last}", flush=True)
    growth = {key: {role: round(last[key][role] - first[key][role], 1) for role in first[key]} for key in first}
    return {"minutes": round((time.monotonic() - started) / 60, 1), "jobs": len(walls), "failed": failed,
            "wall_s": walls, "first": first, "last": last, "growth": growth}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="powerfl-bench-load-"))
    load_before = loadavg()
    started = time.monotonic()
    pipeline = functools.partial(load_pipeline, max_active_jobs=args.max_active_jobs)
    with namespaced_two_parties(root, {f"{PIPELINE}.yaml": pipeline}) as world:
        print(f"two parties up in {time.monotonic() - started:.0f} s (load {loadavg()})", flush=True)
        apis = {role: Api(getattr(world.parties, role)) for role in ("guest", "host")}
        kinds = [args.credit_every > 0 and (i + 1) % args.credit_every == 0 for i in range(args.jobs)]
        batch_started = time.monotonic()
        *jobs, memory = run_jobs(world, apis, kinds, args.timeout)
        batch_s = time.monotonic() - batch_started
        soaked = soak(world, apis, args.soak_minutes) if args.soak_minutes > 0 else None
    walls = [job["wall_s"] for job in jobs if "wall_s" in job]
    completed = sum(job["states"] == {"guest": "success", "host": "success"} for job in jobs)
    return {
        "bench": "load",
        "parties": args.parties,
        "max_active_jobs": args.max_active_jobs,
        "jobs": len(jobs),
        "completed": completed,
        "failed": len(jobs) - completed,
        "per_job": jobs,
        "wall_s": {
            "batch": round(batch_s, 1),
            "median": statistics.median(walls) if walls else None,
            "max": max(walls) if walls else None,
        },  # fmt: skip
        **memory,
        "submit_retries_502": apis["guest"].retries,
        "soak": soaked,
        "load": {"before": load_before, "after": loadavg()},
    }
