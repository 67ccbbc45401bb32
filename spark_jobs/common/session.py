"""The Spark session of a step, and shipping ``spark_jobs`` to the executors."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from pyspark import SparkConf
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def submitted() -> bool:
    """True when spark-submit (or the pyspark shell) started the JVM and this process."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(app_name: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """Get the step's session, honouring the master and settings spark-submit was given.

    Run by hand with ``python`` (no spark-submit) the master defaults to
    ``local[*]``. On a local master the Python workers default to this very
    interpreter, so a venv's packages are seen by the executors too; on YARN
    or Kubernetes set ``spark.pyspark.python`` (or ship a packed env).
    """
    conf = dict(conf or {})
    if submitted():
        master = SparkConf().get("spark.master", "local[*]")
    else:
        master = conf.setdefault("spark.master", "local[*]")
    if master.startswith("local") and "PYSPARK_PYTHON" not in os.environ and "spark.pyspark.python" not in conf:
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not spark.sparkContext.getConf().contains("spark.log.level"):
        spark.sparkContext.setLogLevel("WARN")  # Spark's INFO lines would bury the step's own log
    ship_package(spark)
    log.info("spark session %s on %s (spark %s)", app_name, spark.sparkContext.master, spark.version)
    return spark


def ship_package(spark: SparkSession) -> None:
    """Make ``spark_jobs`` importable on the executors (functions run there are pickled by reference).

    Nothing to do when it already came as a ``--py-files`` zip; otherwise the
    package directory is zipped and added with ``addPyFile``, once per context.
    """
    if not PACKAGE_DIR.is_dir():  # imported from a zip given with --py-files
        return
    sc = spark.sparkContext
    if getattr(sc, "_powerfl_shipped", False):
        return
    workdir = tempfile.mkdtemp(prefix="powerfl-spark-jobs-")
    atexit.register(shutil.rmtree, workdir, True)  # Spark keeps its own copy once added
    archive = build_zip(Path(workdir) / "spark_jobs.zip")
    sc.addPyFile(str(archive))
    sc._powerfl_shipped = True  # type: ignore[attr-defined]


def build_zip(archive: Path) -> Path:
    """Zip the ``spark_jobs`` package (for ``--py-files`` in cluster deploy mode)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            zf.write(path, path.relative_to(PACKAGE_DIR.parent).as_posix())
    return archive
