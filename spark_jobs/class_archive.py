"""Warm-up for the driver JVM's class archive: runs the Spark paths the steps use, on tiny inputs.

    spark-submit --conf spark.driver.extraJavaOptions=-XX:ArchiveClassesAtExit=driver.jsa \\
        spark_jobs/run.py class_archive --spec spec.json

Run by ``powerfl spark-class-archive`` (airflow_provider_powerfl/runtimes/class_archive.py), not by
jobs. It reads every input of the spec (CSV, LIBSVM), joins and writes them as Parquet like the
align step, reads the Parquet back, collects it through Arrow and maps Python chunks over Spark tasks as
the crypto steps do. The JVM then dumps every class it loaded. Classes this does not touch still load
from the jars.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.spec import DataSpec, TaskSpec
from spark_jobs.common.executor import spark_chunk_map
from spark_jobs.common.io import ID, LABEL, read_arrays, read_input
from spark_jobs.common.output import atomic_output
from spark_jobs.common.runner import run_step


def _square(value: int) -> int:
    return value * value


def warm_up(spark: SparkSession, spec: TaskSpec, params: None) -> None:
    """Read, join, write and read back the spec's inputs; check what came back so a broken path fails here."""
    tables = [read_input(spark, spec.input(name), name=name) for name in sorted(spec.inputs)]
    for name in sorted(spec.inputs):  # the steps' own read (one collect), as train and align call it
        read_arrays(spark, spec.input(name), name=name)
    joined = tables[0].df
    for table in tables[1:]:
        joined = joined.join(table.df.drop(*(c for c in table.df.columns if c != ID and c in joined.columns)), ID)
    with atomic_output(spark, spec.outputs.dir) as out:
        joined.repartition(1).sortWithinPartitions(ID).write.parquet(out.uri("joined"))
        _, ids, x, _ = read_arrays(
            spark, DataSpec.from_dict({"uri": out.uri("joined"), "format": "parquet", "id_column": ID, "label_column": LABEL})
        )
        squares = spark_chunk_map(spark.sparkContext)(_square, range(8))
        rows = joined.count()
        if len(ids) != rows or x.shape[0] != rows or squares != [i * i for i in range(8)]:
            raise DataError(f"class archive warm-up: read back {len(ids)} of {rows} rows, squares {squares}")


def main(argv: list[str] | None = None) -> int:
    return run_step("class_archive", warm_up, argv, federated=False)
