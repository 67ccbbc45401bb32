"""A spark-submit script of test_sources_s3.py: write a party's inputs to s3a:// and register a Hive table on them.

Run once per test with the s3a client jars and a Hive-enabled session (embedded Derby metastore), so that
the step run after it finds parquet, orc and a Hive table as a party's estate would hold them. In the same
session, the steps' reader is given bad inputs on s3a (a missing object, a file without the id or the label
column, a feature column of structs, a missing table): the error each raised is printed as one JSON line
after ERRORS_MARK, for the test to check that it names the URI and the fault. Then outputs are published as
Hive tables the way the steps do it (atomic_output, then publish_tables), and what the metastore then holds
is printed after TABLES_MARK: a new table, the same one replaced, a failed write, a table no step wrote.
argv: <local csv file> <base s3a uri> <hive table>; the csv is uploaded as <base>/guest.csv.
"""

import json
import sys

from pyspark.sql import SparkSession

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.jobs.spec import DataSpec
from spark_jobs.common.io import read_arrays
from spark_jobs.common.output import atomic_output, publish_tables

ERRORS_MARK = "POWERFL-TEST-ERRORS "
TABLES_MARK = "POWERFL-TEST-TABLES "


def upload(spark: SparkSession, local: str, uri: str) -> None:
    Path = spark._jvm.org.apache.hadoop.fs.Path
    target = Path(uri)
    target.getFileSystem(spark._jsc.hadoopConfiguration()).copyFromLocalFile(Path(f"file://{local}"), target)


def refusals(spark: SparkSession, base: str) -> dict[str, str]:
    """The reader's error for each kind of bad input on s3a (or 'accepted')."""
    spark.createDataFrame([("a", 1.0)], "key string, x0 double").write.csv(f"{base}/no-id", header=True)
    spark.createDataFrame([("a", (1, 2))], "id string, x0 struct<a:int,b:int>").write.parquet(f"{base}/structs")
    cases = {
        "missing": {"uri": f"{base}/missing.csv", "format": "csv"},
        "no_id": {"uri": f"{base}/no-id", "format": "csv"},
        "no_label": {"uri": f"{base}/no-id", "format": "csv", "id_column": "key", "label_column": "y"},
        "structs": {"uri": f"{base}/structs", "format": "parquet"},
        "no_table": {"uri": "hive://party.nope", "format": "hive"},
    }
    found = {}
    for name, data in cases.items():
        try:
            read_arrays(spark, DataSpec.from_dict(data, f"inputs.{name}"))
            found[name] = "accepted"
        except PowerFLError as exc:
            found[name] = str(exc)
    return found


def write_and_publish(spark: SparkSession, out_dir: str, rows: int, table: str, fail: bool = False) -> None:
    """A step's way: ``rows`` rows written as output ``train`` under out_dir (atomically), then published as ``table``."""
    data = {"uri": f"{out_dir}/data/train", "format": "parquet", "id_column": "id"}
    with atomic_output(spark, out_dir) as out:
        spark.range(rows).selectExpr("CAST(id AS STRING) AS id", "id * 0.5 AS x0").write.parquet(out.uri("data/train"))
        if fail:
            raise RuntimeError("step failed")
    publish_tables(spark, {"train": table}, {"train": data})


def published(spark: SparkSession, base: str) -> dict[str, object]:
    """What the metastore holds after each way of publishing an output as a table."""
    facts: dict[str, object] = {}
    write_and_publish(spark, f"{base}/job1", 3, "hive://party.aligned")
    facts["new_rows"] = len(read_arrays(spark, DataSpec.from_dict({"uri": "hive://party.aligned", "format": "hive"}))[1])
    write_and_publish(spark, f"{base}/job2", 5, "hive://party.aligned")  # the next run replaces it
    facts["replaced_rows"] = spark.table("party.aligned").count()
    facts["replaced_location"] = spark.sql("DESCRIBE TABLE EXTENDED party.aligned").where("col_name = 'Location'").first()[1]
    try:
        write_and_publish(spark, f"{base}/job3", 7, "hive://party.never", fail=True)
    except RuntimeError:
        facts["failed_table_exists"] = spark.catalog.tableExists("party.never")
    try:
        write_and_publish(spark, f"{base}/job4", 2, "hive://party.guest")  # the party's own table, not a step's
        facts["foreign"] = "replaced"
    except PowerFLError as exc:
        facts["foreign"] = str(exc)
    facts["foreign_rows"] = spark.table("party.guest").count()
    facts["tables"] = sorted(t.name for t in spark.catalog.listTables("party"))
    return facts


def main(local_csv: str, base: str, table: str) -> None:
    spark = SparkSession.builder.enableHiveSupport().getOrCreate()
    csv_uri = f"{base}/guest.csv"
    upload(spark, local_csv, csv_uri)
    frame = spark.read.option("header", True).option("inferSchema", True).csv(csv_uri)
    for fmt in ("parquet", "orc"):
        frame.write.format(fmt).save(f"{base}/{fmt}")
    database = table.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    frame.write.format("parquet").option("path", f"{base}/table").saveAsTable(table)  # external, on s3a
    print(ERRORS_MARK + json.dumps(refusals(spark, base)), flush=True)
    print(TABLES_MARK + json.dumps(published(spark, base)), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
