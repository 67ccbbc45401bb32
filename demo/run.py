"""The two-party demo: Kafka and Airflow per party, a hetero-LR job submitted through the guest's REST API.

Guest 10000 (labels + 10 features, Airflow on :8081, Kafka 127.0.0.1:19092)
and host 20000 (20 features, :8082, 127.0.0.1:29092) each get their own
AIRFLOW_HOME under ``.run/demo/<party>/``, SQLite database and ``powerfl``
connection. The job is posted to the guest only; the guest's run invites the
host, whose listener starts the same pipeline with the same job id. Paillier
keys are 2048-bit. Everything started here is stopped at the end, on failure
and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from demo.airflow import LocalAirflow, listening, tail
from airflow_provider_powerfl.exceptions import PowerFLError

REPO = Path(__file__).resolve().parents[1]
PIPELINE = "powerfl_pipeline_hetero_lr"
PARTIES = {"10000": ("guest", "guest", 8081), "20000": ("host", "host", 8082)}  # id -> (role, broker, API port)
KEY_LENGTH = 2048

_T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {text}", flush=True)


class DemoError(PowerFLError):
    """A demo stage failed; the message says which and carries the relevant log tail."""


def kafka(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "scripts" / "kafka"), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def federation(root: Path, brokers: dict[str, str]) -> Path:
    """Keys of both parties and the registry; returns the registry path."""
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    entries = {}
    for party_id, (role, broker, _) in PARTIES.items():
        _, public = generate_party_keys(root / "keys", party_id, overwrite=True)
        entries[party_id] = {"role": role, "bootstrap_servers": brokers[broker], "public_key": str(public)}
    registry = root / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": entries}))
    return registry


def party_airflow(root: Path, registry: Path, party_id: str, dags_folder: Path) -> LocalAirflow:
    role, broker, port = PARTIES[party_id]
    bootstrap = yaml.safe_load(registry.read_text())["parties"][party_id]["bootstrap_servers"]
    conn = {
        "conn_type": "powerfl",
        "host": bootstrap,
        "extra": {
            "party_id": party_id,
            "role": role,
            "registry_path": str(registry),
            "private_key_path": str(root / "keys" / f"{party_id}.key"),
            "runtime": "local",
            "policy": demo_policy(root, party_id),
        },
    }
    env = {"AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(conn), "PYTHONPATH": str(REPO)}
    return LocalAirflow(name=f"{role} {party_id}", home=root / role, port=port, dags_folder=dags_folder, env=env)


def demo_policy(root: Path, party_id: str) -> dict[str, Any]:
    """Each party's privacy policy (docs/policy.md): the other party may start jobs; data and output under the demo's root."""
    return {
        "allowed_parties": [p for p in PARTIES if p != party_id],
        "algorithms": ["psi_ecdh", "hetero_lr"],
        "min_key_length": KEY_LENGTH,
        "min_batch_size": 256,
        "input_prefixes": [str(root / "data")],
        "output_dir": str(root),
    }


def job_conf(job_id: str, data: Any, work_dir: Path, max_iter: int) -> dict[str, Any]:
    """The job in PowerFL's format: parties, common-args, parties-args per party id."""

    def csv(path: Path, label: bool) -> dict[str, Any]:
        return {"uri": str(path), "format": "csv", **({"label_column": "y"} if label else {})}

    return {
        "job_id": job_id,
        "parties": ["10000=guest", "20000=host"],
        "common-args": {
            "work_dir": str(work_dir),
            "train": {"max_iter": max_iter, "learning_rate": 0.15, "batch_size": 512, "key_length": KEY_LENGTH, "random_state": 7},
        },
        "parties-args": {
            "10000": {"align": {"inputs": {"train": csv(data.guest_train, True), "test": csv(data.guest_test, True)}}},
            "20000": {"align": {"inputs": {"train": csv(data.host_train, False), "test": csv(data.host_test, False)}}},
        },
    }


def wait_for(what: str, check: Callable[[], Any], timeout: float, poll: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


def failure_report(airflow: LocalAirflow, run_id: str) -> str:
    """The failed tasks of a run with their log tails."""
    lines = []
    try:
        with airflow.client() as client:
            tis = client.task_instances(PIPELINE, run_id)
    except PowerFLError as exc:
        return f"  ({airflow.name}: cannot list tasks: {exc})"
    for ti in tis:
        if ti["state"] in ("failed", "upstream_failed"):
            lines.append(f"  {airflow.name} task {ti['task_id']}: {ti['state']}")
            if ti["state"] == "failed":
                lines.append(tail(airflow.task_log(PIPELINE, run_id, ti["task_id"], max(1, ti.get("try_number") or 1)), 25))
    return "\n".join(lines) or f"  ({airflow.name}: no failed task)"


def run_demo(args: argparse.Namespace) -> int:
    root = (REPO / ".run" / "demo").resolve()
    started_kafka: list[str] = []
    airflows: list[LocalAirflow] = []
    try:
        say("starting a Kafka broker per party (scripts/kafka up guest host)")
        for name in ("guest", "host"):
            if kafka("status", name).returncode != 0:
                started_kafka.append(name)
        proc = kafka("up", "guest", "host")
        if proc.returncode != 0:
            raise DemoError(f"scripts/kafka up failed:\n{proc.stdout}\n{proc.stderr}")
        brokers = dict(zip(("guest", "host"), kafka("addr", "guest", "host").stdout.split(), strict=True))
        say(f"brokers: guest {brokers['guest']}, host {brokers['host']}")

        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        registry = federation(root, brokers)
        say(f"signing keys and party registry in {root.relative_to(REPO)}/ (keys/, parties.yaml)")
        from airflow_provider_powerfl.datasets.breast import write_breast_split

        data = write_breast_split(root / "data")
        say(f"breast-cancer data split by columns: guest 10 features + label, host 20 features ({root.relative_to(REPO)}/data)")

        guest, host = (party_airflow(root, registry, pid, REPO / "dags") for pid in PARTIES)
        airflows += [guest, host]
        say("creating the guest's Airflow database (airflow db migrate)")
        guest.prepare()
        say("creating the host's Airflow database (a copy of the guest's fresh, migrated one)")
        host.prepare(template_db=guest.home / "airflow.db")
        say("starting api-server, scheduler, dag-processor and triggerer for the guest (:8081) and the host (:8082)")
        for airflow in airflows:
            airflow.start()
        for airflow in airflows:
            airflow.wait_healthy(timeout=args.start_timeout)
            say(f"{airflow.name}: Airflow healthy at {airflow.url}")

        with guest.client() as gc, host.client() as hc:
            for client, airflow in ((gc, guest), (hc, host)):
                wait_for(
                    f"{airflow.name} to parse {PIPELINE} and powerfl_listener (dag-processor log:\n{airflow.log_tail('dag-processor')})",
                    lambda c=client: _dags_ready(c),
                    timeout=180,
                )
            say("both parties parsed the pipeline and their invitation listener")
            wait_for("the host's powerfl_listener run to wait for invitations", lambda: listening(hc), timeout=240, poll=2.0)
            say("the host's listener waits for invitations (a run every minute, deferred in its triggerer)")

            job_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            conf = job_conf(job_id, data, root / "work", args.max_iter)
            say(f"POST {guest.url}/auth/token, then POST /api/v2/dags/{PIPELINE}/dagRuns (job {job_id}, {KEY_LENGTH}-bit Paillier keys)")
            run = gc.trigger(PIPELINE, conf, run_id=job_id, note="PowerFL demo")
            say(f"guest run {run['dag_run_id']} queued; its invite task sends the host a signed invitation")

            host_run = wait_for(
                "the host's listener to start the invited run",
                lambda: hc.find_run(PIPELINE, job_id) or _guest_done_early(gc, job_id),
                timeout=180,
                poll=2.0,
            )
            say(f"host run {host_run['dag_run_id']} started by its listener (same job id)")

            progress = _Progress({"guest": (gc, guest), "host": (hc, host)}, job_id)
            deadline = time.monotonic() + args.job_timeout
            states = {}
            for label, client in (("guest", gc), ("host", hc)):
                remaining = max(10.0, deadline - time.monotonic())
                states[label] = client.wait_run(PIPELINE, job_id, timeout=remaining, poll=3.0, on_poll=lambda _r: progress.report())["state"]
            progress.report()
            if set(states.values()) != {"success"}:
                raise DemoError(
                    f"job {job_id} ended: guest {states['guest']}, host {states['host']}\n"
                    f"{failure_report(guest, job_id)}\n{failure_report(host, job_id)}"
                )
            summary = gc.xcom(PIPELINE, job_id, "summary") or {}
            host_summary = hc.xcom(PIPELINE, job_id, "summary") or {}

        metrics = summary.get("predict_metrics") or {}
        print()
        print(f"PowerFL demo: job {job_id} succeeded at both parties")
        print(f"  AUC {_num(metrics.get('auc'))}   KS {_num(metrics.get('ks'))}   (guest's joint prediction on the test rows)")
        print(f"  other metrics: {json.dumps({k: v for k, v in metrics.items() if k not in ('auc', 'ks')}, sort_keys=True)}")
        print(f"  guest 10000 run: {job_id}   UI {guest.url}/dags/{PIPELINE}/runs/{job_id}")
        print(f"  host  20000 run: {job_id}   UI {host.url}/dags/{PIPELINE}/runs/{job_id}")
        print(f"  models: guest {(summary.get('model') or {}).get('model_id')}, host {(host_summary.get('model') or {}).get('model_id')}")
        print(f"  UI login: admin / see .run/demo/<party>/passwords.json; task logs under .run/demo/<party>/logs/")
        print(f"  Paillier key length: {KEY_LENGTH} bits; elapsed {time.monotonic() - _T0:.0f}s")
        print()
        return 0
    finally:
        say("stopping what the demo started")
        for airflow in airflows:
            airflow.stop()
        if started_kafka and not args.keep_kafka:
            kafka("down", *started_kafka, timeout=120)
        say("stopped")


def _dags_ready(client: Any) -> bool:
    try:
        client.dag(PIPELINE)
        client.dag("powerfl_listener")
    except PowerFLError:
        return False
    return True


def _guest_done_early(client: Any, job_id: str) -> dict[str, Any] | None:
    run = client.find_run(PIPELINE, job_id)
    if run is not None and run["state"] == "failed":
        raise DemoError(f"the guest's run {job_id} failed before the host started")
    return None


class _Progress:
    """Prints each task state change of both runs once."""

    def __init__(self, parties: dict[str, tuple[Any, LocalAirflow]], job_id: str) -> None:
        self._parties = parties
        self._job_id = job_id
        self._seen: dict[tuple[str, str], str] = {}

    def report(self) -> None:
        for label, (client, _) in self._parties.items():
            try:
                tis = client.task_instances(PIPELINE, self._job_id)
            except PowerFLError:
                continue
            for ti in tis:
                key, state = (label, ti["task_id"]), str(ti["state"])
                if self._seen.get(key) != state and state not in ("None", "scheduled", "queued"):
                    self._seen[key] = state
                    say(f"{label}: {ti['task_id']} {state}")


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--start-timeout", type=float, default=240, help="seconds for each Airflow to become healthy")
    parser.add_argument("--job-timeout", type=float, default=900, help="seconds for the job to finish at both parties (default 900)")
    parser.add_argument("--keep-kafka", action="store_true", help="leave the brokers running")
    args = parser.parse_args(argv)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return run_demo(args)
    except KeyboardInterrupt:
        print("demo interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except (PowerFLError, subprocess.TimeoutExpired) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
