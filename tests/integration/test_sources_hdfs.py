"""Inputs and outputs on a real HDFS (MiniDFSCluster: a NameNode and a DataNode), read and written by the steps' I/O.

The in-process ``local[2]`` session of the suite reaches the NameNode by its full ``hdfs://host:port`` URI;
the steps' own runs, which resolve ``hdfs:///`` through ``HADOOP_CONF_DIR``, are in test_spark_cluster.py.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.spec import DataSpec
from spark_jobs.common.io import read_arrays, read_input
from spark_jobs.common.output import atomic_output
from tests.support.hdfs import as_user, chmod, names, put

GUEST_CSV = "id,y,x0,x1\na,1,0.5,1\nb,0,1.5,2\nc,1,-0.25,3\n"


@pytest.fixture
def base(hdfs) -> str:
    return f"{hdfs.uri}/sources/{uuid.uuid4().hex[:8]}"


def spec(uri: str, fmt: str, **options) -> DataSpec:
    return DataSpec.from_dict({"uri": uri, "format": fmt, **options}, "inputs.train")


def test_csv_parquet_and_orc_written_atomically_and_read_back(spark, base, tmp_path):
    local = tmp_path / "guest.csv"
    local.write_text(GUEST_CSV)
    csv_uri = put(spark, local, f"{base}/in/guest.csv")
    _, ids, X, y = read_arrays(spark, spec(csv_uri, "csv", label_column="y"), require_label=True)
    assert list(ids) == ["a", "b", "c"] and list(y) == [1, 0, 1]
    np.testing.assert_array_equal(X, [[0.5, 1], [1.5, 2], [-0.25, 3]])

    frame = spark.read.option("header", True).option("inferSchema", True).csv(csv_uri)
    with atomic_output(spark, f"{base}/out") as out:  # each format written into the staging dir, renamed at the end
        for fmt in ("csv", "parquet", "orc"):
            frame.write.format(fmt).option("header", True).save(out.uri(fmt))
        out.write_json("result.json", {"ok": True})
    assert names(spark, f"{base}") == ["in", "out"]  # no staging directory left beside it
    assert names(spark, f"{base}/out") == ["csv", "orc", "parquet", "result.json"]
    for fmt in ("csv", "parquet", "orc"):
        table, got_ids, got_X, got_y = read_arrays(spark, spec(f"{base}/out/{fmt}", fmt, label_column="y"))
        assert list(got_ids) == list(ids) and list(got_y) == list(y), fmt
        np.testing.assert_array_equal(got_X, X)
        assert table.uri.startswith("hdfs://")


def test_a_failed_step_leaves_nothing_half_written_on_hdfs(spark, base):
    with atomic_output(spark, f"{base}/job") as out:
        out.write_json("old.json", {"v": 1})
    with pytest.raises(RuntimeError, match="step failed"):
        with atomic_output(spark, f"{base}/job") as out:
            spark.range(100).write.parquet(out.uri("half"))  # a Spark write finished, then the step fails
            raise RuntimeError("step failed")
    assert names(spark, base) == ["job"]  # the staging directory is gone
    assert names(spark, f"{base}/job") == ["old.json"]  # the previous output untouched
    with pytest.raises(RuntimeError):
        with atomic_output(spark, f"{base}/never") as out:
            out.write_text("half.txt", "x")
            raise RuntimeError("step failed")
    assert names(spark, base) == ["job"]


def test_bad_inputs_on_hdfs_name_the_uri_and_the_fault(spark, base, tmp_path):
    missing = f"{base}/nope.csv"
    with pytest.raises(DataError, match=rf"^{missing}: cannot read as csv: \[PATH_NOT_FOUND\]"):
        read_input(spark, spec(missing, "csv"))
    with pytest.raises(DataError, match=rf"^{base}/nope.orc: cannot read as orc: \[PATH_NOT_FOUND\]"):
        read_arrays(spark, spec(f"{base}/nope.orc", "orc"))

    local = tmp_path / "bad.csv"
    local.write_text("key,x0\na,1\n")
    uri = put(spark, local, f"{base}/bad.csv")
    with pytest.raises(DataError, match=rf"^{uri}: missing id column 'id' \(columns: key, x0\)"):
        read_arrays(spark, spec(uri, "csv"))
    with pytest.raises(DataError, match=rf"^{uri}: missing label column 'y' \(columns: key, x0\)"):
        read_arrays(spark, spec(uri, "csv", id_column="key", label_column="y"))

    private = f"{base}/private"  # another user's directory (drwx------): listing it is refused by the NameNode
    put(spark, local, f"{private}/bad.csv")
    chmod(spark, private, 0o700)
    with as_user(spark, "mallory"), pytest.raises(DataError) as refused:
        read_arrays(spark, spec(f"{private}/bad.csv", "csv"))
    assert str(refused.value).startswith(
        f"{private}/bad.csv: cannot read as csv: permission denied: Permission denied: user=mallory, access=EXECUTE, "
        f'inode="{urlparse(private).path}":root:'
    ), refused.value

    orc = f"{base}/strings.orc"  # wrong schema: a feature column of structs
    spark.createDataFrame([("a", (1, 2))], "id string, x0 struct<a:int,b:int>").write.orc(orc)
    with pytest.raises(DataError, match=rf"^{orc}: column 'x0' has type struct<a:int,b:int>, expected numbers"):
        read_arrays(spark, spec(orc, "orc"))
