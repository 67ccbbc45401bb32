"""The class-data-sharing archive of a local step's driver JVM: dumped once per machine, mapped by every step.

Why: a local step's driver JVM spends most of its start loading and verifying the classes of
Spark's jars. A no-op step took 16.7-17.1 s (18 CPU-s) with them loaded from the jars and
9.9-10.9 s (12 CPU-s) with them mapped from a dynamic AppCDS archive (docs/spark_jobs.md).

An archive only fits the JVM, the Spark jars, the class path additions and the JVM options it
was dumped with. Its file name carries a fingerprint of all four. A changed installation
finds no archive and runs as before. ``powerfl spark-class-archive`` dumps the archive by
running the ``class_archive`` step (``spark_jobs/class_archive.py``), which exercises the paths the steps use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.command import LOCAL_DRIVER_JAVA_OPTIONS, SPEC_FILE, SparkSettings, step_command

log = logging.getLogger(__name__)

ARCHIVE_DIR_ENV = "POWERFL_CLASS_ARCHIVE_DIR"
# environment that changes the driver's class path or configuration directory (spark-class, load-spark-env.sh)
_CLASS_PATH_ENV = ("SPARK_CONF_DIR", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_DIST_CLASSPATH", "SPARK_CLASSPATH")
_ROWS = 64


def archive_dir(environ: Mapping[str, str]) -> Path:
    """``$POWERFL_CLASS_ARCHIVE_DIR``, else ``$XDG_CACHE_HOME/powerfl`` (``~/.cache/powerfl``)."""
    if environ.get(ARCHIVE_DIR_ENV):
        return Path(environ[ARCHIVE_DIR_ENV])
    cache = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(cache) / "powerfl"


def spark_home(environ: Mapping[str, str]) -> Path:
    """``$SPARK_HOME``, else the pip-installed pyspark (its own spark-submit's home)."""
    if environ.get("SPARK_HOME"):
        return Path(environ["SPARK_HOME"])
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def java_binary(environ: Mapping[str, str]) -> Path:
    found = (
        str(Path(environ["JAVA_HOME"]) / "bin" / "java")
        if environ.get("JAVA_HOME")
        else shutil.which("java", path=environ.get("PATH"))
    )
    if not found or not Path(found).is_file():
        raise ConfigError("java not found: set JAVA_HOME or put Java 17+ on PATH")
    return Path(found).resolve()


def fingerprint(environ: Mapping[str, str]) -> str:
    """Hex digest of what the archive must match: the java binary, Spark's jars, class path env, JVM options."""
    digest = hashlib.sha256()
    java = java_binary(environ)
    stat = java.stat()
    parts = [f"java {java} {stat.st_size} {stat.st_mtime_ns}", f"options {LOCAL_DRIVER_JAVA_OPTIONS}"]
    jars = spark_home(environ) / "jars"
    if not jars.is_dir():
        raise ConfigError(f"{jars}: Spark's jars directory is missing (SPARK_HOME or pyspark install)")
    for jar in sorted(jars.iterdir()):
        stat = jar.stat()
        parts.append(f"jar {jar.name} {stat.st_size} {stat.st_mtime_ns}")
    parts += [f"env {name}={environ.get(name, '')}" for name in _CLASS_PATH_ENV]
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()[:16]


def archive_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return archive_dir(environ) / f"spark-driver-{fingerprint(environ)}.jsa"


def existing_archive(environ: Mapping[str, str] | None = None) -> Path | None:
    """The archive for this machine's JVM and Spark if it was dumped, else None (never raises)."""
    try:
        path = archive_path(environ)
    except (ConfigError, OSError):
        return None
    return path if path.is_file() else None


def build_archive(environ: Mapping[str, str] | None = None, *, force: bool = False) -> tuple[Path, bool]:
    """Dump the archive unless it exists (or ``force``); return its path and whether it was dumped now.

    The JVM writes the archive at exit into a temporary file beside the final one, which is renamed
    into place only after the step succeeded, so concurrent builders and readers never see half a file.
    """
    from airflow_provider_powerfl.runtimes.local import LocalProcess

    environ = dict(os.environ if environ is None else environ)
    path = archive_path(environ)
    if path.is_file() and not force:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".class-archive-", dir=path.parent) as tmp:
        work = Path(tmp)
        dumped = work / "driver.jsa"
        write_warm_up_spec(work)
        options = f"{LOCAL_DRIVER_JAVA_OPTIONS} -XX:ArchiveClassesAtExit={dumped}"
        settings = SparkSettings(master="local[2]", conf={"spark.driver.extraJavaOptions": options})
        argv = step_command("class_archive", "powerfl-class-archive", settings)
        LocalProcess(argv, work, environ).run(log, "the class archive's warm-up step")
        if not dumped.is_file():
            raise ConfigError(f"the JVM wrote no class archive at {dumped} (see the step's output above)")
        os.replace(dumped, path)
    return path, True


def write_warm_up_spec(work: Path) -> Path:
    """A spec with one small input of each format the steps read (Parquet is written and read back by the step);
    also the step server's spares' warm-up (runtimes.step_server). Returns the spec's path."""
    from airflow_provider_powerfl.jobs.spec import TaskSpec

    work.mkdir(parents=True, exist_ok=True)
    csv = work / "input.csv"
    csv.write_text("id,y,x0,x1\n" + "".join(f"{i},{i % 2},{i / 7:.3f},{i % 5}\n" for i in range(_ROWS)))
    libsvm = work / "input.libsvm"
    libsvm.write_text("".join(f"@{i} {i % 3}:1.0 {3 + i % 4}:0.5\n" for i in range(_ROWS)))
    spec = {
        "job_id": "class-archive",
        "attempt": 1,
        "party_id": "0",
        "private_key": "unused.key",  # the warm-up talks to no party: keys and brokers are never read
        "parties": [{"id": "0", "role": "guest", "bootstrap_servers": "localhost:9092", "public_key": "unused.pub"}],
        "inputs": {
            "csv": {"uri": csv.as_uri(), "format": "csv", "label_column": "y"},
            "libsvm": {"uri": libsvm.as_uri(), "format": "libsvm", "index_base": 0, "num_features": 8},
        },
        "outputs": {"dir": (work / "out").as_uri()},
        "nonce": "0" * 32,  # never sent
    }
    TaskSpec.from_dict(spec).dump(work / SPEC_FILE)
    return work / SPEC_FILE
