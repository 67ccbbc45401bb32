"""Step start-up: spawn to first peer message, spark-submit against the warm step server, side by side.

Each round runs the breast align step at a guest and a host through real Kafka twice: as the product's
spark-submit command (runtimes.command) and handed to each party's step server (runtimes.step_server,
its spares warm before the round). A party's first peer message is the first record in its peer's inbox
topic (its Kafka timestamp: when the party's producer took it); spawn is when the launcher started the
spark-submit or handed the step to the server. The parts come from the step's own ``POWERFL-STARTUP``
line (spark_jobs/common/startup.py): launcher (scripts, launcher JVM, driver JVM exec), driver JVM to
Python, Python imports, spec and SparkSession, reading the inputs, the channel (inbox, producer, send).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from airflow_provider_powerfl.datasets.breast import write_breast_split
from airflow_provider_powerfl.federation.kafka_transport import topic_name
from airflow_provider_powerfl.runtimes.step_server import StepServer
from bench import brokers
from spark_jobs.common.startup import parse
from tests.support.launch import PartyRun, check_ok, run_parties, spark_settings, write_job

GUEST, HOST = "10000", "20000"
# (part, mark it starts at, mark it ends at); "spawn" and "first" are the launcher's and Kafka's
COLD_PARTS = (("launcher", "spawn", "jvm"), ("driver_jvm", "jvm", "python"), ("python_imports", "python", "main"),
              ("spec_and_session", "main", "session"), ("read_input", "session", "party"), ("channel", "party", "first"))  # fmt: skip
WARM_PARTS = (("handoff", "spawn", "assigned"), ("step_start", "assigned", "main"), ("spec_and_session", "main", "session"),
              ("read_input", "session", "party"), ("channel", "party", "first"))  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (spark-submit, warm) pairs")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")


def first_message(address: str, job_id: str, receiver: str) -> float:
    """Wall time of the first record in ``receiver``'s inbox of ``job_id`` (its peer's first message)."""
    consumer = KafkaConsumer(bootstrap_servers=address, group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic_name(job_id, receiver), 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        for _ in range(20):
            for records in consumer.poll(timeout_ms=500, max_records=1).values():
                return records[0].timestamp / 1000.0
    finally:
        consumer.close()
    raise RuntimeError(f"no message in {receiver}'s inbox of {job_id}")


def parts(run: PartyRun, first: float, names: tuple[tuple[str, str, str], ...]) -> dict[str, float]:
    marks = {**(parse(run.log) or {}), "spawn": run.started, "first": first}
    return {"total": round(first - run.started, 2), **{name: round(marks[b] - marks[a], 2) for name, a, b in names}}


def one_round(work: Path, addrs: dict[str, str], inputs: dict[str, Any], servers: dict[str, Path] | None) -> dict[str, Any]:
    job = f"bench-startup-{time.time_ns()}"
    specs = write_job(work, job, addrs, {GUEST: "guest", HOST: "host"}, inputs, "align", {})
    runs = run_parties("align", specs, servers=servers)
    check_ok("align", runs)
    peer = {GUEST: HOST, HOST: GUEST}
    names = WARM_PARTS if servers else COLD_PARTS
    return {
        pid: {**parts(run, first_message(addrs[peer[pid]], f"{job}.align", peer[pid]), names), "step_s": round(run.seconds, 1)}
        for pid, run in runs.items()
    }


def ready(servers: Any, settings: Any) -> None:
    for server in servers:
        if not server.wait_ready(settings, 900):
            raise RuntimeError(f"the step server {server.path} has no warm spare after 900 s")


def median(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {pid: {k: round(statistics.median(r[pid][k] for r in rounds), 2) for k in rounds[0][pid]} for pid in rounds[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-startup-") as tmp:
        work = args.work_dir or Path(tmp)
        split = write_breast_split(work / "data")
        inputs = {GUEST: {"train": {"uri": str(split.guest_train), "format": "csv", "label_column": "y"}},
                  HOST: {"train": {"uri": str(split.host_train), "format": "csv"}}}  # fmt: skip
        addrs = dict(zip((GUEST, HOST), brokers("guest", "host"), strict=True))
        settings = spark_settings()
        servers = {pid: StepServer(work / f"server-{pid}.sock", prewarm=[settings]).start() for pid in (GUEST, HOST)}
        cold, warm = [], []
        try:
            for index in range(args.rounds):  # each round waits for the spares: none warms while a step is timed
                ready(servers.values(), settings)
                cold.append(one_round(work, addrs, inputs, None))
                ready(servers.values(), settings)
                warm.append(one_round(work, addrs, inputs, {pid: s.path for pid, s in servers.items()}))
                print(f"round {index + 1}: spark-submit {cold[-1]}\n         warm {warm[-1]}  (load {os.getloadavg()})")
        finally:
            for server in servers.values():
                server.shutdown()
                server.server_close()
    cold_m, warm_m = median(cold), median(warm)
    ratio = {pid: round(cold_m[pid]["total"] / warm_m[pid]["total"], 1) for pid in cold_m}
    print(f"spawn to first peer message, median of {args.rounds}: spark-submit {cold_m}\nwarm {warm_m}\nratio {ratio}")
    return {
        "bench": "startup", "step": "align", "dataset": "breast", "rounds": args.rounds,
        "load_before": [round(x, 1) for x in load], "load_after": [round(x, 1) for x in os.getloadavg()],
        "spark_submit": cold_m, "warm": warm_m, "ratio": ratio,
        "spark_submit_first_message_s": max(v["total"] for v in cold_m.values()),
        "warm_first_message_s": max(v["total"] for v in warm_m.values()),
    }  # fmt: skip
