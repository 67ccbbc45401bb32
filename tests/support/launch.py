"""Run Spark steps as the parties would: each party's task spec written, one spark-submit per party, all at once.

The launcher of the integration tests and of ``powerfl bench hetero-lr`` / ``secureboost``: the
product's own step command (runtimes.command) against real Kafka, with the checkout's spark_jobs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.jobs.contract import step_error_in
from airflow_provider_powerfl.runtimes.class_archive import existing_archive
from airflow_provider_powerfl.runtimes.command import SparkSettings, local_path, step_command
from airflow_provider_powerfl.runtimes.local import StepFailed
from airflow_provider_powerfl.runtimes.step_server import WarmStep

REPO = Path(__file__).resolve().parents[2]
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


@dataclass(frozen=True)
class PartyRun:
    """One party's finished step: exit code, log and its result.json (if written)."""

    party_id: str
    returncode: int
    log: str
    result: dict[str, Any] | None
    seconds: float
    started: float = 0.0  # wall clock when its spark-submit was spawned (or its step handed to the step server)

    @property
    def error(self) -> str | None:
        return step_error_in(self.log)


def write_job(
    work: Path,
    job_id: str,
    brokers: dict[str, str],
    roles: dict[str, str],
    inputs: dict[str, dict[str, Any]],
    step: str,
    params: dict[str, Any] | None = None,
    party_params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write each party's task spec of one step; keys are made once per ``work`` dir. Returns spec paths.

    ``brokers``, ``inputs`` and ``party_params`` are keyed by party id; ``params`` are every party's.
    """
    keys = work / "keys"
    for pid in roles:
        if not (keys / f"{pid}.key").exists():
            generate_party_keys(keys, pid)
    nonce = secrets.token_hex(16)  # one run of the step: every party's spec carries it
    parties = [
        {"id": pid, "role": role, "bootstrap_servers": brokers[pid], "public_key": str(keys / f"{pid}.pub")}
        for pid, role in roles.items()
    ]
    specs = {}
    for pid in roles:
        own = {**(params or {}), **(party_params or {}).get(pid, {})}
        spec = {
            "job_id": job_id,
            "attempt": 1,
            "party_id": pid,
            "private_key": str(keys / f"{pid}.key"),
            "parties": parties,
            "inputs": inputs.get(pid, {}),
            "outputs": {"dir": str(work / pid / step)},
            "nonce": nonce,
            "params": own,
        }
        path = work / "specs" / f"{step}-{pid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=2))
        specs[pid] = path
    return specs


def spark_settings(master: str = "local[2]", conf: Mapping[str, str] | None = None) -> SparkSettings:
    """The tests' Spark settings: the checkout's spark_jobs, this venv's spark-submit; ``conf`` adds to SPARK_CONF."""
    return SparkSettings(master=master, conf={**SPARK_CONF, **(conf or {})}, jobs_dir=str(REPO / "spark_jobs"),
                         spark_submit=str(Path(sys.executable).parent / "spark-submit"))  # fmt: skip


def spark_submit_command(step: str, spec: Path, master: str = "local[2]", conf: Mapping[str, str] | None = None) -> list[str]:
    """The product's command of the step (runtimes.command), with the spec file named by its path."""
    settings = spark_settings(master, conf)
    return [*step_command(step, f"powerfl-{step}-{spec.stem}", settings, existing_archive())[:-1], str(spec)]


def submit_env() -> dict[str, str]:
    """A local spark-submit's environment: the local runtime's PATH (``local_path``), this Python for the workers."""
    return {**os.environ, "PATH": local_path(os.environ), "PYSPARK_PYTHON": sys.executable}


def run_parties(step: str, specs: dict[str, Path], timeout: float = 1800, master: str = "local[2]",
                conf: Mapping[str, str] | None = None, servers: Mapping[str, Path] | None = None) -> dict[str, PartyRun]:  # fmt: skip
    """spark-submit ``step`` for every party at once (or hand it to the party's step server, ``servers``); wait for all."""
    if servers:
        return run_warm(step, specs, servers, spark_settings(master, conf), timeout)
    env = submit_env()
    procs, started = {}, {}
    start = time.perf_counter()
    for pid, spec in specs.items():
        log = open(spec.with_suffix(".log"), "w+")  # closed below
        started[pid] = time.time()
        procs[pid] = (subprocess.Popen(spark_submit_command(step, spec, master, conf), cwd=spec.parent, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, text=True), log)  # fmt: skip
    runs = {}
    for pid, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        text = log.read()
        log.close()
        spec = json.loads(specs[pid].read_text())
        result_file = Path(spec["outputs"]["dir"]) / "result.json"
        result = json.loads(result_file.read_text()) if code == 0 and result_file.exists() else None
        runs[pid] = PartyRun(pid, code, text, result, seconds, started[pid])
    return runs


def run_warm(step: str, specs: dict[str, Path], servers: Mapping[str, Path], settings: SparkSettings,
             timeout: float = 1800) -> dict[str, PartyRun]:  # fmt: skip
    """``step`` at every party at once, each handed to its party's step server (runtimes.step_server)."""
    logs: dict[str, list[str]] = {pid: [] for pid in specs}
    codes: dict[str, int] = {}
    steps = {pid: WarmStep(servers[pid], step, spec, settings) for pid, spec in specs.items()}

    def one(pid: str) -> None:
        log = logging.getLogger(f"step.{pid}")
        log.propagate = False  # the lines are in the run's log
        try:
            steps[pid].run(log, f"{step} at {pid}", on_line=logs[pid].append)
            codes[pid] = 0
        except StepFailed as exc:
            logs[pid].append(str(exc))
            codes[pid] = exc.returncode

    start, started = time.perf_counter(), {pid: time.time() for pid in specs}
    threads = {pid: threading.Thread(target=one, args=(pid,)) for pid in specs}
    for thread in threads.values():
        thread.start()
    runs = {}
    for pid, thread in threads.items():
        thread.join(max(1.0, timeout - (time.perf_counter() - start)))
        if thread.is_alive():
            steps[pid].kill()
            thread.join()
        spec = json.loads(specs[pid].read_text())
        result_file = Path(spec["outputs"]["dir"]) / "result.json"
        code = codes.get(pid, -1)
        result = json.loads(result_file.read_text()) if code == 0 and result_file.exists() else None
        text = "\n".join(logs[pid])
        specs[pid].with_suffix(".log").write_text(text)
        runs[pid] = PartyRun(pid, code, text, result, time.perf_counter() - start, started[pid])
    return runs


def check_ok(step: str, runs: dict[str, PartyRun]) -> None:
    for run in runs.values():
        if run.returncode != 0:
            raise PowerFLError(
                f"step {step} failed at party {run.party_id} (exit {run.returncode}): {run.error or run.log[-2000:]}"
            )
