"""The one spark-submit command of a step, shared by every runtime so they cannot drift.

The command names the spec as ``spec.json`` relative to the working
directory: the local runtime runs it in a private temporary directory, the
pod in its own working directory, so both argv lists are equal.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_provider_powerfl.exceptions import ConfigError

SPEC_FILE = "spec.json"
RUNNER = "run.py"  # the one file of spark_jobs that spark-submit is given; it dispatches to the step
STEP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|yarn|k8s://\S+|spark://\S+)$")
# A local master runs every task in the driver JVM, for a step that lasts minutes: the C1 JIT and the
# serial collector halve its CPU (reading 32k x 74 Parquet rows: 45 CPU-s instead of 83; docs/spark_jobs.md).
# Cluster masters keep the JVM's defaults; any spark.driver.extraJavaOptions given replaces this.
LOCAL_DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# Spark conf: where a step's native crypto chunks run, "threads" (the driver's) or "spark" (tasks); the default
# is threads on a local master (spark_jobs/common/executor.crypto_map)
CRYPTO_EXECUTOR_CONF = "spark.powerfl.cryptoExecutor"


@dataclass(frozen=True)
class SparkSettings:
    """How spark-submit is called: master, deploy mode, extra ``--conf`` pairs and where the entry points are."""

    master: str = "local[*]"
    deploy_mode: str = "client"
    conf: Mapping[str, str] = field(default_factory=dict)
    jobs_dir: str | None = None  # the spark_jobs directory (holding run.py) where spark-submit runs; default: the installed one
    spark_submit: str = "spark-submit"

    def check(self) -> SparkSettings:
        if not _MASTER.match(self.master):
            raise ConfigError(f"spark master {self.master!r}: expected local[*], local[N], yarn, k8s://... or spark://...")
        if self.deploy_mode not in ("client", "cluster"):
            raise ConfigError(f"spark deploy_mode {self.deploy_mode!r}: expected client or cluster")
        for key in self.conf:
            if not isinstance(key, str) or not key.startswith("spark."):
                raise ConfigError(f"spark conf key {key!r}: expected a spark.* setting")
        return self


def step_command(step: str, app_name: str, settings: SparkSettings, class_archive: Path | None = None) -> list[str]:
    """argv of ``spark-submit <jobs_dir>/run.py <step> --spec spec.json`` for any runtime.

    class_archive: the driver JVM's class-data-sharing archive (runtimes.class_archive), for a command run
    on the machine that has it; a local master maps it unless the settings give their own JVM options.
    """
    if not STEP_NAME.match(step):
        raise ConfigError(f"step {step!r}: expected a spark_jobs entry point name like 'align'")
    settings.check()
    argv = [settings.spark_submit, "--master", settings.master, "--deploy-mode", settings.deploy_mode, "--name", app_name]
    conf = dict(settings.conf)
    if settings.master.startswith("local"):
        archive = (
            f' "-XX:SharedArchiveFile={class_archive}"' if class_archive else ""
        )  # Spark splits options on spaces, not in quotes
        conf.setdefault("spark.driver.extraJavaOptions", LOCAL_DRIVER_JAVA_OPTIONS + archive)
    for key, value in sorted(conf.items()):
        argv += ["--conf", f"{key}={value}"]
    jobs_dir = settings.jobs_dir or str(default_jobs_dir())
    argv += [f"{jobs_dir.rstrip('/')}/{RUNNER}", step, "--spec", SPEC_FILE]
    return argv


def default_jobs_dir() -> Path:
    """``$POWERFL_SPARK_JOBS``, else the installed ``spark_jobs`` package's directory, found by import (wheel or checkout)."""
    if os.environ.get("POWERFL_SPARK_JOBS"):
        return Path(os.environ["POWERFL_SPARK_JOBS"])
    found = importlib.util.find_spec("spark_jobs")
    if found is None or not found.submodule_search_locations:
        raise ConfigError("the spark_jobs package is not importable: install airflow-provider-powerfl or set POWERFL_SPARK_JOBS")
    return Path(next(iter(found.submodule_search_locations)))


def local_path(environ: Mapping[str, str]) -> str:
    """PATH for a local step: ``$SPARK_HOME/bin`` and this Python's bin (pyspark's spark-submit) first."""
    dirs = [str(Path(environ["SPARK_HOME"]) / "bin")] if environ.get("SPARK_HOME") else []
    dirs.append(str(Path(sys.executable).parent))
    return os.pathsep.join([*dirs, environ.get("PATH", os.defpath)])
