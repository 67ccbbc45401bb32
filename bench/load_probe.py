"""What ``powerfl bench load`` measures at each party: its flow-server, and its processes' memory, files and topics."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.ns_parties import NamespacedParties, is_step
from tests.support.parties import Party


class Api:
    """One party's flow-server with its admin's token."""

    def __init__(self, party: Party) -> None:
        self.http = httpx.Client(base_url=party.api, headers=party.headers(), timeout=120)

    retries = 0  # submits answered 502 and tried again (the test Airflows' SQLite database locked under load)

    def submit(self, pipeline: str, parameters: dict[str, Any]) -> str:
        files = {"parameters": ("job.json", json.dumps(parameters), "application/json")}
        for _ in range(5):
            response = self.http.post(f"/pipelines/{pipeline}/jobs", files=files)
            if response.status_code != 502:
                break
            self.retries += 1
            time.sleep(10)
        return response.raise_for_status().json()["job_id"]

    def states(self, pipeline: str) -> dict[str, str]:
        response = self.http.get("/jobs", params={"pipeline": pipeline, "limit": 500})
        if response.status_code == 502:  # the database locked for this poll: the next one sees the states
            return {}
        return {job["job_id"]: job["state"] for job in response.raise_for_status().json()["jobs"]}


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_peaks(world: NamespacedParties, peaks: dict[str, float]) -> None:
    """Raise `peaks` to the current resident memory (MB) of each party's broker, Airflow and Spark steps."""
    for party in world.parties.parties:
        pids = party.airflow.stragglers()
        steps = [pid for pid in pids if is_step(pid)]
        now = {
            f"{party.role}_broker": _rss_mb(world.brokers[party.role].pid() or 0),
            f"{party.role}_airflow": sum(_rss_mb(pid) for pid in pids if pid not in steps),
            f"{party.role}_spark_steps": sum(_rss_mb(pid) for pid in steps),
        }
        for key, value in now.items():
            peaks[key] = round(max(peaks.get(key, 0.0), value), 1)


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _topics(address: str) -> int:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=30000)
    try:
        return len([topic for topic in admin.list_topics() if not topic.startswith("__")])
    finally:
        admin.close()


def _size_mb(path: Path) -> float:
    """The disk `path` takes (blocks, as du counts: Kafka's index files are 10 MB each but sparse)."""
    return round(sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def footprint(world: NamespacedParties) -> dict[str, dict[str, float]]:
    """Per party: its processes (its Spark steps' apart), their open file descriptors (broker's too), its broker's topics and data size."""
    out: dict[str, dict[str, float]] = {"processes": {}, "step_processes": {}, "open_fds": {}, "topics": {}, "broker_data_mb": {}}
    for party in world.parties.parties:
        broker = world.brokers[party.role]
        pids = party.airflow.stragglers()
        out["processes"][party.role] = len(pids)
        out["step_processes"][party.role] = sum(map(is_step, pids))  # with no job running: a leaked step
        out["open_fds"][party.role] = sum(_fds(pid) for pid in pids) + _fds(broker.pid() or 0)
        out["topics"][party.role] = _topics(broker.address)
        out["broker_data_mb"][party.role] = _size_mb(broker.dir / "data")
    return out
