"""SIGTERM to `powerfl bench psi` stops its parties and their crypto workers too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

MARKER = "POWERFL_TEST_BENCH_RUN"  # inherited by every process the bench starts, and only by them


def _marked(run: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == run and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:  # other users' processes, or gone meanwhile
            continue
    return found


def _workers_started(bench: psutil.Process) -> bool:
    """Both party processes have spawned their crypto workers."""
    try:
        parties = [p for p in bench.children() if "spawn_main" in " ".join(p.cmdline())]
        return len(parties) == 2 and all(p.children() for p in parties)
    except psutil.Error:  # a process ended meanwhile: look again
        return False


def test_sigterm_stops_parties_and_their_workers(kafka_brokers: Mapping[str, str], tmp_path: Path) -> None:
    run, log = uuid.uuid4().hex, tmp_path / "bench.log"
    cmd = [sys.executable, "-m", "airflow_provider_powerfl.cli", "bench", "psi", "--rows", "200000", "--workers", "2",
           "--guest-broker", kafka_brokers["guest"], "--host-broker", kafka_brokers["host"]]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, MARKER: run}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        bench = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        while not _workers_started(bench):
            assert proc.poll() is None, f"bench ended before its workers started: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the parties' crypto workers did not start within 120 s"
            time.sleep(0.2)
        started = len(bench.children(recursive=True))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # the clean-up under test failed: leave nothing running for others
            proc.kill()
            proc.wait()
        # resource trackers exit by themselves once the processes using them are gone
        _, survivors = psutil.wait_procs(_marked(run), timeout=10)
        for leftover in survivors:
            leftover.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "powerfl bench psi: stopped by SIGTERM; terminated" in log.read_text()
    assert started >= 6  # two parties, two workers each, the resource tracker
    assert not survivors, [f"{p.pid} {p.name()}" for p in survivors]
