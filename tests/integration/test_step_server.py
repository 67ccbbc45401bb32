"""The warm step server (runtimes.step_server) through the real path: spark-submitted spares, real Kafka.

One server per party for the module (a spare is a JVM: each test waits for its party's spare to be warm).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from airflow_provider_powerfl.datasets.breast import write_breast_split
from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR
from airflow_provider_powerfl.runtimes.local import StepFailed
from airflow_provider_powerfl.runtimes.step_server import StepServer, WarmStep
from spark_jobs.common.startup import parse
from tests.support.launch import run_parties, spark_settings, write_job

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
log = logging.getLogger("test.step_server")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("step-servers")
    started = {pid: StepServer(root / f"{pid}.sock", prewarm=[spark_settings()]).start() for pid in ROLES}
    yield started
    for server in started.values():
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def breast(tmp_path_factory):
    split = write_breast_split(tmp_path_factory.mktemp("breast"))
    return {
        GUEST: {"train": {"uri": str(split.guest_train), "format": "csv", "label_column": "y"}},
        HOST: {"train": {"uri": str(split.host_train), "format": "csv"}},
    }


def warm(servers, *pids):
    for pid in pids:
        assert servers[pid].wait_ready(spark_settings(), 900), f"no warm spare at party {pid}"


@pytest.mark.timeout(1200)
def test_a_failing_step_fails_with_its_reason_and_the_server_serves_on(servers, kafka_brokers, tmp_path: Path):
    warm(servers, GUEST)
    brokers = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}
    missing = {GUEST: {"train": {"uri": str(tmp_path / "nowhere.csv"), "format": "csv", "label_column": "y"}}}
    specs = write_job(tmp_path, f"ss-fail-{uuid.uuid4().hex[:8]}", brokers, ROLES, missing, "align", {"timeout": 60})
    step = WarmStep(servers[GUEST].path, "align", specs[GUEST], spark_settings())
    with pytest.raises(StepFailed) as failed:
        step.run(log, "align at the guest")
    assert failed.value.returncode == EXIT_STEP_ERROR
    assert "nowhere.csv" in str(failed.value) and "cannot read as csv" in str(failed.value)
    assert servers[GUEST].wait_ready(spark_settings(), 900)  # its next spare is warm: the server serves on


@pytest.mark.timeout(1800)
def test_a_step_through_the_server_gives_spark_submits_result(servers, breast, kafka_brokers, tmp_path: Path):
    brokers = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}
    warm(servers, GUEST, HOST)
    outputs, starts = {}, {}
    for how in ("warm", "spark-submit"):
        work = tmp_path / how
        specs = write_job(work, f"ss-same-{uuid.uuid4().hex[:8]}", brokers, ROLES, breast, "align", {"timeout": 300})
        runs = run_parties("align", specs, servers={p: s.path for p, s in servers.items()} if how == "warm" else None)
        for run in runs.values():
            assert run.returncode == 0, f"{how} at {run.party_id}: {run.error or run.log[-3000:]}"
        aligned = {pid: pq.read_table(work / pid / "align" / "aligned" / "train").to_pylist() for pid in ROLES}
        assert [r["id"] for r in aligned[GUEST]] == [r["id"] for r in aligned[HOST]]  # one order at both parties
        outputs[how] = {pid: sorted(rows, key=lambda r: r["id"]) for pid, rows in aligned.items()}  # PSI's order is the run's
        starts[how] = {pid: parse(run.log) for pid, run in runs.items()}
    assert outputs["warm"] == outputs["spark-submit"]
    assert len(outputs["warm"][GUEST]) == 385
    assert all("assigned" in marks for marks in starts["warm"].values())  # handed to a spare, not spark-submitted
    assert not any("assigned" in marks for marks in starts["spark-submit"].values())


@pytest.mark.timeout(1200)
def test_stop_kills_the_step(servers, breast, kafka_brokers, tmp_path: Path):
    warm(servers, GUEST)
    brokers = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}
    specs = write_job(tmp_path, f"ss-kill-{uuid.uuid4().hex[:8]}", brokers, ROLES, breast, "align", {"timeout": 600})
    step, lines, failure = WarmStep(servers[GUEST].path, "align", specs[GUEST], spark_settings()), [], []

    def run() -> None:
        try:
            step.run(log, "align at the guest", on_line=lines.append)
        except StepFailed as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 300
    while not any("created inbox topic" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.2)  # the guest waits for the host, which never starts
    assert step.pid is not None and any("created inbox topic" in line for line in lines)
    step.kill()
    thread.join(60)
    assert not thread.is_alive()
    assert failure and "was killed" in str(failure[0])
    with pytest.raises(ProcessLookupError):
        os.killpg(step.pid, 0)  # the step's whole process group is gone
