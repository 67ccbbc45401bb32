"""A spark-submit script of test_sources_s3.py: write a party's inputs to s3a:// and register a Hive table on them.

Run once per test with the s3a client jars and a Hive-enabled session (embedded Derby metastore), so that
the step run after it finds parquet, orc and a Hive table as a party's estate would hold them.
argv: <local csv file> <base s3a uri> <hive table>; the csv is uploaded as <base>/guest.csv.
"""

import sys

from pyspark.sql import SparkSession

local_csv, base, table = sys.argv[1:4]
spark = SparkSession.builder.enableHiveSupport().getOrCreate()
Path = spark._jvm.org.apache.hadoop.fs.Path
csv_uri = f"{base}/guest.csv"
target = Path(csv_uri)
target.getFileSystem(spark._jsc.hadoopConfiguration()).copyFromLocalFile(Path(f"file://{local_csv}"), target)
frame = spark.read.option("header", True).option("inferSchema", True).csv(csv_uri)
for fmt in ("parquet", "orc"):
    frame.write.format(fmt).save(f"{base}/{fmt}")
database = table.split(".")[0]
spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
frame.write.format("parquet").option("path", f"{base}/table").saveAsTable(table)  # external, on s3a
spark.stop()
