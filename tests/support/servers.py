"""Servers the tests start as child processes (HDFS, a Spark standalone cluster): start, wait until up, stop.

A server that does not come up fails the test with its log's tail, never skips it. Each runs in its
own process group, so stopping it reaches every JVM it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STORAGE_SCRIPT = REPO / "scripts" / "storage"
# Serial GC and C1 only, as the Kafka brokers: half the start-up CPU of the defaults on a 2-core machine
JVM_OPTS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_libs(name: str) -> Path:
    """The jars of ``storage/<name>/pom.xml``, fetched from Maven Central by scripts/storage when missing."""
    proc = subprocess.run([str(STORAGE_SCRIPT), "libs", name], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"scripts/storage libs {name} exited {proc.returncode}\n{proc.stderr}", pytrace=False)
    return Path(proc.stdout.strip())


class Server:
    """One child process, its output in ``log``."""

    def __init__(self, what: str, argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.what, self.log = what, log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            self.proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def wait_until(self, ready: Callable[[], bool], timeout: float = 180) -> None:
        """Poll ``ready`` until it holds; fail with the log's tail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"{self.what} exited {self.proc.returncode} while starting:\n{self.tail()}", pytrace=False)
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.what} not up within {timeout:.0f} s:\n{self.tail()}", pytrace=False)
            time.sleep(0.5)

    def stop(self, grace: float = 20) -> None:
        """TERM the process group, KILL it after ``grace`` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
