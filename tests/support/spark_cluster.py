"""A real Spark standalone cluster for the tests: a master and two workers, each its own JVM (pyspark's spark-class).

Steps run against it with ``--master spark://...`` and :meth:`SparkCluster.conf`: one executor (one core)
per worker per application (each worker offers four, so four applications run at once: two steps of two
parties), so each party's step gets an executor on both workers, and its tasks
(the crypto chunks) are spread over two JVMs and two Python worker pools other than the driver's.
Each application writes a Spark event log, from which :func:`crypto_tasks_by_worker` counts the crypto
tasks each worker ran.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyspark

from tests.support.servers import JVM_OPTS, Server, free_port

SPARK_HOME = Path(pyspark.__file__).parent  # pyspark's pip package is a Spark distribution: bin/, jars/
SPARK_CLASS = str(SPARK_HOME / "bin" / "spark-class")
WORKERS = 2


@dataclass(frozen=True)
class SparkCluster:
    master: str  # spark://127.0.0.1:<port>
    worker_dirs: tuple[Path, ...]  # each worker's work dir: <app id>/<executor id>/ per executor it ran
    event_dir: Path

    def conf(self) -> dict[str, str]:
        """An application's settings: one 1-core executor per worker, loopback driver, an event log."""
        return {
            "spark.cores.max": str(WORKERS),
            "spark.executor.cores": "1",
            "spark.executor.memory": "512m",
            "spark.executor.extraJavaOptions": " ".join(JVM_OPTS),
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": self.event_dir.as_uri(),
            "spark.eventLog.rolling.enabled": "false",  # one plain JSON-lines file per application
            "spark.eventLog.compress": "false",
        }


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as answer:
            state = json.load(answer)
    except (OSError, ValueError):  # not listening yet, or still serving its HTML page before the JSON one
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


@contextmanager
def spark_cluster(run_dir: Path) -> Iterator[SparkCluster]:
    """Start the master and the workers under ``run_dir`` and wait until both workers have registered."""
    port, ui_port = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    env = {**os.environ, "SPARK_DAEMON_JAVA_OPTS": " ".join(JVM_OPTS), "SPARK_DAEMON_MEMORY": "256m",
           "SPARK_HOME": str(SPARK_HOME),
           "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    event_dir = run_dir / "events"
    event_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        argv = [SPARK_CLASS, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                "--webui-port", str(ui_port)]  # fmt: skip
        head = Server("spark master", argv, run_dir / "master.log", run_dir, env)
        stack.callback(head.stop)
        worker_dirs = []
        for i in range(WORKERS):
            work = run_dir / f"worker{i}"
            work.mkdir(exist_ok=True)
            argv = [SPARK_CLASS, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "4",
                    "--memory", "2g", "--work-dir", str(work), "--webui-port", "0", master]  # fmt: skip
            worker = Server(f"spark worker {i}", argv, run_dir / f"worker{i}.log", run_dir, env)
            stack.callback(worker.stop)
            worker_dirs.append(work)
        head.wait_until(lambda: _alive_workers(ui_port) == WORKERS)
        yield SparkCluster(master, tuple(worker_dirs), event_dir)


def _events(path: Path) -> Iterator[dict]:
    with path.open() as f:
        for line in f:
            yield json.loads(line)


def crypto_tasks_by_worker(cluster: SparkCluster, app_name: str) -> list[int]:
    """How many crypto-chunk tasks (stages collected in spark_jobs/common/executor.py) each worker ran for the
    newest finished application named ``app_name``."""
    logs = sorted((p for p in cluster.event_dir.iterdir() if not p.name.endswith(".inprogress")), key=os.path.getmtime)
    for path in reversed(logs):
        events = list(_events(path))
        start = next(e for e in events if e["Event"] == "SparkListenerApplicationStart")
        if start["App Name"] != app_name:
            continue
        crypto = {e["Stage Info"]["Stage ID"] for e in events if e["Event"] == "SparkListenerStageCompleted"
                  and "executor.py" in e["Stage Info"]["Stage Name"]}  # fmt: skip
        per_executor = Counter(
            e["Task Info"]["Executor ID"] for e in events if e["Event"] == "SparkListenerTaskEnd" and e["Stage ID"] in crypto
        )
        app_id = start["App ID"]
        return [sum(n for ex, n in per_executor.items() if (work / app_id / ex).is_dir()) for work in cluster.worker_dirs]
    raise AssertionError(f"no finished event log of application {app_name!r} in {cluster.event_dir}")
