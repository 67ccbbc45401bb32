"""The two-party demo: Kafka and Airflow per party, a hetero-LR job submitted through the guest's REST API.

Guest 10000 (labels + 10 features, Airflow on :8081, Kafka 127.0.0.1:19092)
and host 20000 (20 features, :8082, 127.0.0.1:29092) each get their own
AIRFLOW_HOME under ``.run/demo/<party>/``, SQLite database and ``powerfl``
connection. The job is posted to the guest only; the guest's run invites the
host, whose listener starts the same pipeline with the same job id. Paillier
keys are 2048-bit; hetero LR keeps the product's label defences. The demo
prints a line per stage and per finished task; the JVM, Spark, Kafka and
Airflow output goes to log files (their paths are printed once, a failure
prints the relevant tail). Everything started here is stopped at the end, on
failure and on Ctrl-C, unless ``--keep`` leaves both parties (and their brokers)
running after a successful job: ``.run/demo/endpoints.json`` then says where each
party's flow-server API and dashboard are and how to log in, and ``--stop`` stops
them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from demo.airflow import USER, LocalAirflow, listening, tail
from demo.job import KEY_LENGTH, PARTIES, TRAINING, connection, federation, job_conf
from demo.progress import DemoError, TaskProgress, elapsed, say, wait_for

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / ".run" / "demo"
LOG = ROOT / "demo.log"  # this process's own log: the class archive's JVM output among it
ENDPOINTS = ROOT / "endpoints.json"  # written by --keep: each party's API, dashboard and login
KEPT = ROOT / "kept.json"  # what --keep left running, for --stop
PIPELINE = "powerfl_pipeline_hetero_lr"


def kafka(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "scripts" / "kafka"), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def party_airflow(registry: Path, party_id: str) -> LocalAirflow:
    role, _, port = PARTIES[party_id]
    env = {"AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(connection(ROOT, registry, party_id)), "PYTHONPATH": str(REPO)}
    return LocalAirflow(name=f"{role} {party_id}", home=ROOT / role, port=port, dags_folder=REPO / "dags", env=env)


class Started:
    """What the demo started (brokers, Airflows), stopped in reverse by ``stop``; brokers already up are left alone."""

    def __init__(self, keep_kafka: bool) -> None:
        self.keep_kafka = keep_kafka
        self.brokers: list[str] = []
        self.airflows: list[LocalAirflow] = []

    def keep(self) -> None:
        """Leave everything running; --stop finds it through kept.json."""
        KEPT.write_text(json.dumps({"airflow_homes": [str(a.home) for a in self.airflows],
                                    "process_groups": [g for a in self.airflows for g in a.process_groups()],
                                    "brokers": [] if self.keep_kafka else self.brokers}))  # fmt: skip
        self.airflows, self.brokers = [], []

    def stop(self) -> None:
        if not self.airflows and not self.brokers:
            return
        say("stopping what the demo started")
        for airflow in self.airflows:
            airflow.stop()
        if self.brokers and not self.keep_kafka:
            kafka("down", *self.brokers, timeout=120)


def prepare() -> None:
    """A fresh .run/demo/, this process's log there (Python warnings too), and where every log is."""
    if ROOT.exists():
        shutil.rmtree(ROOT)
    ROOT.mkdir(parents=True)
    logging.basicConfig(filename=LOG, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    rel = ROOT.relative_to(REPO)
    say(f"logs: {rel}/demo.log, {rel}/<party>/*.log (Airflow), {rel}/<party>/logs/ (tasks, Spark), .run/kafka/<broker>/")


def class_archive() -> None:
    """The class archive local Spark drivers map (runtimes/class_archive.py): dumped once per machine, ~1 min."""
    from airflow_provider_powerfl.runtimes.class_archive import archive_path, build_archive

    if archive_path().is_file():
        return
    say("dumping the Spark drivers' class archive (once per machine, about a minute)")
    try:
        build_archive()
    except PowerFLError as exc:
        raise DemoError(f"the class archive failed: {exc}\n{tail(LOG)}") from exc
    say("class archive dumped")


def start_brokers(started: Started) -> dict[str, str]:
    names = [broker for _, broker, _ in PARTIES.values()]
    for name in names:
        if kafka("status", name).returncode != 0:
            started.brokers.append(name)
    proc = kafka("up", *names)
    if proc.returncode != 0:
        raise DemoError(f"scripts/kafka up {' '.join(names)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    brokers = dict(zip(names, kafka("addr", *names).stdout.split(), strict=True))
    reused = (
        f" (already running: {', '.join(n for n in names if n not in started.brokers)})"
        if len(started.brokers) < len(names)
        else ""
    )
    say(f"Kafka per party: guest {brokers['guest']}, host {brokers['host']}{reused}")
    return brokers


def start_airflows(registry: Path, started: Started, timeout: float) -> tuple[LocalAirflow, LocalAirflow]:
    guest, host = (party_airflow(registry, pid) for pid in PARTIES)
    started.airflows += [guest, host]
    guest.prepare()
    host.prepare(template_db=guest.home / "airflow.db")  # a copy of the guest's fresh, migrated database
    for airflow in (guest, host):
        airflow.start()
    say(f"Airflow per party (api-server, scheduler, dag-processor, triggerer): guest {guest.url}, host {host.url}")
    say(f"dashboards: guest {guest.url}/powerfl/, host {host.url}/powerfl/ (flow-server API under /flow-server)")
    for airflow in (guest, host):
        airflow.wait_healthy(timeout=timeout)
    with guest.client() as gc, host.client() as hc:
        for client, airflow in ((gc, guest), (hc, host)):
            wait_for(f"{airflow.name} to parse {PIPELINE} and powerfl_listener (dag-processor log:\n{airflow.log_tail('dag-processor')})",
                     lambda c=client: _dags_ready(c), timeout=180)  # fmt: skip
        wait_for("the host's powerfl_listener run to wait for invitations", lambda: listening(hc), timeout=240, poll=2.0)
    say("both Airflows healthy; the host's listener waits for invitations")
    say(
        f"UI while the demo runs: {guest.url}, {host.url} (user admin, password in {ROOT.relative_to(REPO)}/<party>/passwords.json)"
    )
    return guest, host


def run_job(
    guest: LocalAirflow, host: LocalAirflow, data: Any, args: argparse.Namespace
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Submit the job to the guest only, follow both runs; returns the job id and both summaries."""
    job_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    conf = job_conf(job_id, data, ROOT / "work", args.max_iter)
    with guest.client() as gc, host.client() as hc:
        gc.trigger(PIPELINE, conf, run_id=job_id, note="PowerFL demo")
        say(f"job {job_id} posted to the guest's REST API; its run invites the host")
        wait_for("the host's listener to start the invited run",
                 lambda: hc.find_run(PIPELINE, job_id) or _guest_done_early(gc, job_id), timeout=180, poll=2.0)  # fmt: skip
        say("the host's listener started the same job")
        progress = TaskProgress({"guest": gc, "host": hc}, PIPELINE, job_id)
        deadline = time.monotonic() + args.job_timeout
        states = {}
        for label, client in (("guest", gc), ("host", hc)):
            remaining = max(10.0, deadline - time.monotonic())
            states[label] = client.wait_run(PIPELINE, job_id, timeout=remaining, poll=3.0, on_poll=lambda _r: progress.report())[
                "state"
            ]
        progress.report()
        if set(states.values()) != {"success"}:
            raise DemoError(f"job {job_id} ended: guest {states['guest']}, host {states['host']}\n"
                            f"{failure_report(guest, job_id)}\n{failure_report(host, job_id)}")  # fmt: skip
        return job_id, gc.xcom(PIPELINE, job_id, "summary") or {}, hc.xcom(PIPELINE, job_id, "summary") or {}


def report(job_id: str, guest: LocalAirflow, host: LocalAirflow, summary: dict[str, Any], host_summary: dict[str, Any]) -> None:
    metrics = summary.get("predict_metrics") or {}
    print()
    print(f"PowerFL demo: job {job_id} succeeded at both parties in {elapsed():.0f}s")
    print(
        f"  test AUC {_num(metrics.get('auc'))}, KS {_num(metrics.get('ks'))} on {metrics.get('n', '?')} test rows (the guest's joint prediction)"
    )
    print(f"  hetero LR: {TRAINING['max_iter']} epochs, batch {TRAINING['batch_size']}, {TRAINING['optimizer']} at {TRAINING['learning_rate']}, "
          f"{KEY_LENGTH}-bit Paillier; label defences at the product's defaults (epsilon 10 label noise, min_support 16)")  # fmt: skip
    print(
        f"  models: guest {(summary.get('model') or {}).get('model_id')}, host {(host_summary.get('model') or {}).get('model_id')}"
    )
    print()


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


def write_endpoints(airflows: tuple[LocalAirflow, LocalAirflow]) -> None:
    """``{"<party id>": {"api", "dashboard", "airflow", "username", "password"}}`` of the kept parties."""
    endpoints = {
        party_id: {"api": f"{airflow.url}/flow-server", "dashboard": f"{airflow.url}/powerfl/", "airflow": airflow.url,
                   "username": USER, "password": airflow.password}
        for party_id, airflow in zip(PARTIES, airflows, strict=True)
    }  # fmt: skip
    ENDPOINTS.write_text(json.dumps(endpoints, indent=2))
    say(f"both parties keep running (stop them with: python -m demo --stop); endpoints in {ENDPOINTS.relative_to(REPO)}")
    for party_id, endpoint in endpoints.items():
        say(f"  {PARTIES[party_id][0]} {party_id}: dashboard {endpoint['dashboard']}, API {endpoint['api']}")


def stop_kept() -> bool:
    """Stop what an earlier ``--keep`` left running (TERM, then KILL after 15 s); False if nothing was kept."""
    if not KEPT.exists():
        return False
    kept = json.loads(KEPT.read_text())
    say("stopping the parties --keep left running")
    airflows = [
        LocalAirflow(name=Path(home).name, home=Path(home), port=0, dags_folder=REPO / "dags") for home in kept["airflow_homes"]
    ]
    groups = kept.get("process_groups", [])  # the api-server's title overwrites its environ: found by group
    pids = [pid for airflow in airflows for pid in airflow.stragglers()]
    _signal_all(groups, pids, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while any(_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.5)
    _signal_all(groups, [pid for airflow in airflows for pid in airflow.stragglers()], signal.SIGKILL)
    if kept["brokers"]:
        kafka("down", *kept["brokers"], timeout=120)
    KEPT.unlink()
    ENDPOINTS.unlink(missing_ok=True)
    say("stopped")
    return True


def _signal_all(groups: list[int], pids: list[int], sig: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_demo(args: argparse.Namespace) -> int:
    stop_kept()  # a kept demo holds the ports and .run/demo/
    started = Started(args.keep_kafka)
    try:
        prepare()
        class_archive()
        registry = federation(ROOT, start_brokers(started))
        from airflow_provider_powerfl.datasets.breast import write_breast_split

        data = write_breast_split(ROOT / "data")
        say("keys, party registry and the breast-cancer data split by columns (guest: label + 10 features, host: 20)")
        guest, host = start_airflows(registry, started, args.start_timeout)
        job_id, summary, host_summary = run_job(guest, host, data, args)
        report(job_id, guest, host, summary, host_summary)
        if args.keep:
            write_endpoints((guest, host))
            started.keep()
        return 0
    finally:
        if started.airflows or started.brokers:
            started.stop()
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


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument(
        "--max-iter", type=int, default=TRAINING["max_iter"], help=f"training epochs (default {TRAINING['max_iter']})"
    )
    parser.add_argument("--start-timeout", type=float, default=240, help="seconds for each Airflow to become healthy")
    parser.add_argument(
        "--job-timeout", type=float, default=900, help="seconds for the job to finish at both parties (default 900)"
    )
    parser.add_argument("--keep-kafka", action="store_true", help="leave the brokers running")
    parser.add_argument(
        "--keep", action="store_true", help="leave both parties running after the job; writes .run/demo/endpoints.json"
    )
    parser.add_argument("--stop", action="store_true", help="stop what --keep left running, and nothing else")
    args = parser.parse_args(argv)
    if args.stop:
        if not stop_kept():
            say("nothing kept to stop")
        return 0

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
