"""Data I/O of the Spark steps on a real local Spark: readers, checks, atomic outputs, the runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyspark
import pytest

from airflow_provider_powerfl.algorithms.paillier_kernels import ThreadChunkMap
from airflow_provider_powerfl.exceptions import ConfigError, DataError, PowerFLError
from airflow_provider_powerfl.jobs.contract import step_error_in
from airflow_provider_powerfl.jobs.spec import DataSpec, TaskSpec
from airflow_provider_powerfl.runtimes.class_archive import build_archive, existing_archive
from airflow_provider_powerfl.runtimes.command import CRYPTO_EXECUTOR_CONF
from spark_jobs.common import runner
from spark_jobs.common.executor import SparkChunkMap, crypto_map
from spark_jobs.common.io import collect_arrays, parse_libsvm_line, read_arrays, read_input
from spark_jobs.common.output import atomic_output
from tests.support.launch import spark_submit_command, submit_env

REPO = Path(__file__).resolve().parents[2]


def head(src: Path, dst: Path, lines: int) -> Path:
    with src.open() as f:
        dst.write_text("".join(next(f) for _ in range(lines)))
    return dst


def csv_spec(path: Path, **options) -> DataSpec:
    return DataSpec.from_dict({"uri": str(path), "format": "csv", **options}, "inputs.train")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_error(spark, spec: DataSpec, **kwargs) -> str:
    """read_input's error, after checking that read_arrays (the steps that collect) raises the very same."""
    with pytest.raises(DataError) as info:
        read_input(spark, spec, **kwargs)
    with pytest.raises(DataError) as collected:
        read_arrays(spark, spec, **kwargs)
    assert str(collected.value) == str(info.value)
    return str(info.value)


def same_as_read_input(spark, spec: DataSpec, **kwargs):
    """read_arrays' result, after checking it equals read_input then collect_arrays (sorted by id)."""
    table, ids, x, y = read_arrays(spark, spec, **kwargs)
    expected = read_input(spark, spec, **kwargs)
    want_ids, want_x, want_y = collect_arrays(expected, sort_by_id=True)
    assert list(ids) == list(want_ids)
    np.testing.assert_array_equal(x, want_x)
    assert (y is None and want_y is None) or list(y) == list(want_y)
    assert (table.feature_names, table.has_label, table.rows_read, table.rows, table.missing_counts) == (
        expected.feature_names, expected.has_label, expected.rows_read, expected.rows, expected.missing_counts)  # fmt: skip
    assert sorted(table.df.toArrow().column("id").to_pylist()) == list(want_ids)
    return table, ids, x, y


def test_python_and_jvm_spark_agree(spark):
    # one pyspark wheel holds both sides; a second distribution of its files (pyspark-client) could make them differ
    assert pyspark.__version__ == spark.version == "4.2.0"


# ------------------------------------------------------------------ good inputs
def test_fate_guest_csv(spark, datasets, tmp_path):
    src = head(datasets / "fate" / "breast_hetero_guest.csv", tmp_path / "guest.csv", 41)
    table = read_input(spark, csv_spec(src, label_column="y"), require_label=True)
    assert table.df.columns == ["id", "label"] + [f"x{i}" for i in range(10)]
    assert dict(table.df.dtypes) == {"id": "string", "label": "double", **{f"x{i}": "double" for i in range(10)}}
    assert table.feature_names == tuple(f"x{i}" for i in range(10))
    assert table.rows == table.rows_read == 40
    ids, x, y = collect_arrays(table)
    expected = np.loadtxt(src, delimiter=",", skiprows=1)
    order = np.argsort(expected[:, 0].astype(int).astype(str))
    got = np.argsort(ids)
    np.testing.assert_array_equal(ids[got], expected[order, 0].astype(int).astype(str))
    np.testing.assert_array_equal(y[got], expected[order, 1])
    np.testing.assert_allclose(x[got], expected[order, 2:])
    assert x.dtype == np.float64 and y.dtype == np.float64


def test_fate_host_csv_with_feature_selection(spark, datasets, tmp_path):
    src = head(datasets / "fate" / "breast_hetero_host.csv", tmp_path / "host.csv", 31)
    table = read_input(spark, csv_spec(src, exclude=["x0", "x19"]))
    assert not table.has_label and table.feature_names == tuple(f"x{i}" for i in range(1, 19))
    picked = read_input(spark, csv_spec(src, features=["x5", "x2"]))
    ids, x, y = collect_arrays(picked, sort_by_id=True)
    assert y is None and x.shape == (30, 2)
    assert list(ids) == sorted(ids)
    first = src.read_text().splitlines()[1].split(",")
    row = int(np.flatnonzero(ids == first[0])[0])
    np.testing.assert_allclose(x[row], [float(first[6]), float(first[3])])


def test_a9a_guest_libsvm(spark, datasets, tmp_path):
    src = head(datasets / "a9a" / "a9a.guest", tmp_path / "a9a.guest", 60)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "label_column": "y", "num_features": 49}, "in")
    table = read_input(spark, spec, require_label=True)
    assert table.feature_names == tuple(f"x{i}" for i in range(49)) and table.rows == 60
    ids, x, y = collect_arrays(table, sort_by_id=True)
    # "@0 -1 3:1.0 11:1.0 14:1.0 19:1.0 39:1.0 42:1.0" (1-based indices)
    row = int(np.flatnonzero(ids == "0")[0])
    assert y[row] == -1.0
    assert sorted(np.flatnonzero(x[row]) + 1) == [3, 11, 14, 19, 39, 42]
    assert set(np.unique(y)) == {-1.0, 1.0}


def test_a9a_host_libsvm_zero_based_and_width_from_data(spark, datasets, tmp_path):
    src = head(datasets / "a9a" / "a9a.host", tmp_path / "a9a.host", 60)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "index_base": 0}, "in")
    table = read_input(spark, spec)
    top = max(int(tok.split(":")[0]) for line in src.read_text().splitlines() for tok in line.split()[1:])
    assert len(table.feature_names) == top + 1
    ids, x, y = collect_arrays(table)
    row = int(np.flatnonzero(ids == "0")[0])
    assert y is None
    assert list(np.flatnonzero(x[row])) == [5, 14, 17, 23, 25, 26, 30, 33]


def test_a9a_test_split_ids_without_at(spark, datasets, tmp_path):
    src = head(datasets / "a9a" / "a9a.t.guest", tmp_path / "a9a.t.guest", 20)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "label_column": "y", "num_features": 49}, "in")
    ids, _, _ = collect_arrays(read_input(spark, spec), sort_by_id=True)
    assert sorted(ids, key=int) == [str(i) for i in range(20)]


def test_parquet_with_numeric_id(spark, tmp_path):
    path = str(tmp_path / "data.parquet")
    spark.createDataFrame([(7, 1, 0.5, 2), (8, 0, 1.5, 3)], "uid long, y int, a double, b int").write.parquet(path)
    spec = DataSpec.from_dict({"uri": path, "format": "parquet", "id_column": "uid", "label_column": "y"}, "in")
    ids, x, y = collect_arrays(read_input(spark, spec), sort_by_id=True)
    assert list(ids) == ["7", "8"] and list(y) == [1.0, 0.0]
    np.testing.assert_array_equal(x, [[0.5, 2.0], [1.5, 3.0]])


@pytest.mark.parametrize("missing", ["error", "drop", "fill:-1"])
def test_read_arrays_gives_what_read_input_then_collect_arrays_give(spark, tmp_path, missing):
    path = str(tmp_path / "data.parquet")
    rows = [(f"r{i}", i % 2, float(i) / 3, i) for i in range(50)] + [("r50", 1, None, 5)]  # one missing cell
    spark.createDataFrame(rows[:50] if missing == "error" else rows, "uid string, y int, a double, b int").write.parquet(path)
    spec = DataSpec.from_dict(
        {"uri": path, "format": "parquet", "id_column": "uid", "label_column": "y", "missing": missing}, "in"
    )
    same_as_read_input(spark, spec, require_label=True)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("a9a.guest", {"label_column": "y", "num_features": 49}),
        ("a9a.host", {"index_base": 0}),
        ("a9a.t.guest", {"label_column": "y"}),
    ],
)
def test_libsvm_read_arrays_parses_plain_lines_in_the_driver(spark, datasets, tmp_path, monkeypatch, name, options):
    src = head(datasets / "a9a" / name, tmp_path / name, 300)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", **options}, "in")
    expected = read_input(spark, spec)
    want_ids, want_x, want_y = collect_arrays(expected, sort_by_id=True)
    monkeypatch.setattr("spark_jobs.common.io.read.read_input", lambda *a, **k: pytest.fail("plain lines took the JVM's path"))
    table, ids, x, y = read_arrays(spark, spec)
    assert list(ids) == list(want_ids) and table.feature_names == expected.feature_names and table.rows == 300
    np.testing.assert_array_equal(x, want_x)
    assert (y is None) == (want_y is None) and (y is None or list(y) == list(want_y))


@pytest.mark.parametrize(
    "text",
    [
        "@1 1 1:0.5\n  \n@2 -1 2:2  3:1e-3 \n",  # a blank line, two spaces, a trailing space
        "@1 1 1:0.5\t2:+7\n@2 -1 +3:.5 007:5.\n",  # a tab between tokens, signs, leading zeros
        "@1 1 1:1.5d\n@2 -1 2:0x1p3\n",  # Java's float syntax, which Python does not read
        "@\u00e9t\u00e9 1 1:0.5\n@2 -1 2:1\n",  # a non-ASCII id
        "@1 1 1:0.5\x1c\n@2 -1 2:1\n",  # a control character Python's float() would strip
    ],
)
def test_libsvm_read_arrays_matches_the_jvm_on_unusual_lines(spark, tmp_path, text):
    src = write(tmp_path, "odd.libsvm", text)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "label_column": "y"}, "in")
    try:
        read_input(spark, spec)
    except DataError as exc:  # the JVM refuses the file: read_arrays must say the same
        assert read_error(spark, spec) == str(exc)
        return
    same_as_read_input(spark, spec)


def test_libsvm_index_beyond_the_jvms_int_is_refused_as_the_jvm_refuses_it(spark, tmp_path):
    src = write(tmp_path, "big.libsvm", "@1 1 2147483648:1\n")
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "label_column": "y"}, "in")
    assert "bad lines" in read_error(spark, spec)


def test_headerless_csv_with_named_columns(spark, tmp_path):
    src = write(tmp_path, "d.tsv", "a\t1\t0.25\nb\t0\t0.75\n")
    spec = csv_spec(src, header=False, delimiter="\t", columns=["key", "y", "v"], id_column="key", label_column="y")
    ids, x, y = collect_arrays(read_input(spark, spec), sort_by_id=True)
    assert list(ids) == ["a", "b"] and list(y) == [1.0, 0.0] and list(x[:, 0]) == [0.25, 0.75]


# ------------------------------------------------------------------ missing values
MISSING = "id,y,x0,x1\n1,1,0.5,NA\n2,0,,2.0\n3,1,1.5,3.0\n"


def test_missing_values_are_an_error_by_default(spark, tmp_path):
    src = write(tmp_path, "m.csv", MISSING)
    message = read_error(spark, csv_spec(src, label_column="y"))
    assert "m.csv: column 'x0' has 1 missing values (e.g. row id '2')" in message
    assert "missing: drop or fill" in message


def test_missing_values_dropped(spark, tmp_path):
    src = write(tmp_path, "m.csv", MISSING)
    table = read_input(spark, csv_spec(src, label_column="y", missing="drop"))
    assert (table.rows_read, table.rows) == (3, 1)
    assert table.missing_counts == {"x0": 1, "x1": 1}
    assert collect_arrays(table)[0].tolist() == ["3"]


def test_missing_values_filled(spark, tmp_path):
    src = write(tmp_path, "m.csv", MISSING)
    ids, x, _ = collect_arrays(read_input(spark, csv_spec(src, label_column="y", missing="fill:-1")), sort_by_id=True)
    np.testing.assert_array_equal(x, [[0.5, -1.0], [-1.0, 2.0], [1.5, 3.0]])


def test_missing_label_is_never_filled(spark, tmp_path):
    src = write(tmp_path, "m.csv", "id,y,x0\n1,,0.5\n2,1,0.1\n")
    assert "column 'y' has 1 missing values (e.g. row id '1')" in read_error(
        spark, csv_spec(src, label_column="y", missing="fill:0")
    )


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("key,x0\n1,0.5\n", {}, "bad.csv: missing id column 'id' (columns: key, x0)"),
        ("id,x0\n1,0.5\n", {"label_column": "y"}, "bad.csv: missing label column 'y' (columns: id, x0)"),
        ("id,x0,x1\n1,0.5,1\n2,oops,1\n", {}, "bad.csv: column 'x0' has a non-numeric value 'oops' (row id '2'; 1 such rows)"),
        ("id,x0\n1,inf\n", {}, "bad.csv: column 'x0' has a non-numeric value 'inf' (row id '1'"),
        ("id,y,x0\n1,yes,0.5\n", {"label_column": "y"}, "bad.csv: column 'y' has a non-numeric value 'yes' (row id '1'"),
        ("id,x0\n1,0.5\n2,0.7\n1,0.9\n", {}, "bad.csv: duplicate id '1' (2 rows)"),
        ("id,x0\n", {}, "bad.csv: empty input (no data rows)"),
        ("id,x0,x1\n1,0.5,1\n2,0.5\n", {}, "bad.csv: line '2,0.5' does not have the header's 3 fields (1 such lines)"),
        ("id,x0\n,0.5\n", {}, "bad.csv: 1 rows have no value in id column 'id'"),
        ("id,x0\n  ,0.5\n", {}, "bad.csv: 1 rows have no value in id column 'id'"),
        ("id,x0\n1,-999\n2,0.5\n", {"missing_values": ["-999"]}, "bad.csv: column 'x0' has 1 missing values (e.g. row id '1')"),
        ("id,x0\n1,0.5\n2,-inf\n", {}, "bad.csv: column 'x0' has a non-numeric value '-inf' (row id '2'"),
        ("id,y\n1,0\n", {"label_column": "y"}, "bad.csv: no feature columns (columns: id, y)"),
        ("id,x0\n1,0.5\n", {"features": ["x9"]}, "bad.csv: missing column 'x9' named in the spec"),
        ("id,x0,x0\n1,0.5,1\n", {}, "bad.csv: column 'x0' appears twice in the header"),
    ],
)
def test_bad_csv_is_named(spark, tmp_path, text, options, message):
    src = write(tmp_path, "bad.csv", text)
    assert message in read_error(spark, csv_spec(src, **options))


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("@1 1 1:0.5\n@2 -1 2:x\n", {}, "row id '2': value of feature index 2 'x' is not a number in line '@2 -1 2:x'"),
        ("@1 1:0.5\n", {}, "row id '1': expected a label after the id"),
        ("@1 1 0:0.5\n", {}, "row id '1': feature index 0 is below index_base 1"),
        ("@1 1 3:1 3:1\n", {}, "row id '1': a feature index appears twice"),
        ("@1 1 60:1\n", {"num_features": 49}, "row id '1' has feature index 60 beyond num_features 49 (index_base 1)"),
        ("@1 1 2:1\n@1 1 3:1\n", {}, "duplicate id '1' (2 rows)"),
        ("\n\n", {}, "empty input (no data lines)"),
        ("@1 nan 1:1\n", {}, "row id '1': label 'nan' is not a finite number"),
        ("@1 1 3:\n", {}, "row id '1': value of feature index 3 '' is not a number"),
        ("@1 1 a:1\n", {}, "row id '1': feature index 'a' is not an integer"),
        ("@1 1 2:1e999\n", {}, "row id '1': value of feature index 2 '1e999' is not a finite number"),
    ],
)
def test_bad_libsvm_is_named(spark, tmp_path, text, options, message):
    src = write(tmp_path, "bad.libsvm", text)
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm", "label_column": "y", **options}, "in")
    message_got = read_error(spark, spec)
    assert "bad.libsvm" in message_got and message in message_got


def test_libsvm_label_token_without_label_column_is_explained(spark, tmp_path):
    src = write(tmp_path, "a9a.guest", "@0 -1 3:1.0\n@1 1 5:1.0\n")
    spec = DataSpec.from_dict({"uri": str(src), "format": "libsvm"}, "in")
    assert "token '-1' is not index:value (if the lines carry a label, set label_column" in read_error(spark, spec)


def test_libsvm_without_label_hints_at_label_column():
    with pytest.raises(ValueError, match=r"token '-1' is not index:value \(if the lines carry a label, set label_column"):
        parse_libsvm_line("@1 -1 3:1.0", has_label=False, index_base=1)
    assert parse_libsvm_line("7 +1 1:2 4:0.5", has_label=True, index_base=1) == ("7", 1.0, [0, 3], [2.0, 0.5])


def test_missing_file_is_named(spark, tmp_path):
    assert f"{tmp_path}/absent.csv: cannot read as csv" in read_error(spark, csv_spec(tmp_path / "absent.csv"))


def test_step_needing_the_label_refuses_a_spec_without_one(spark, tmp_path):
    src = write(tmp_path, "g.csv", "id,x0\n1,0.5\n")
    with pytest.raises(ConfigError, match=r"^inputs\.train\.label_column: missing"):
        read_input(spark, csv_spec(src), require_label=True, name="train")


# ------------------------------------------------------------------ outputs and runner
def test_atomic_output_replaces_on_success_and_leaves_nothing_on_failure(spark, tmp_path):
    target = tmp_path / "out" / "job"
    with atomic_output(spark, str(target)) as out:
        out.write_json("a.json", {"v": 1})
        spark.range(3).write.parquet(out.uri("ids"))
    assert json.loads((target / "a.json").read_text()) == {"v": 1}
    assert spark.read.parquet(str(target / "ids")).count() == 3

    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(spark, str(target)) as out:
            out.write_json("b.json", {"v": 2})
            raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["a.json", "ids"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["job"]  # no staging left

    with atomic_output(spark, str(target)) as out:
        out.write_json("b.json", {"v": 3})
    assert sorted(p.name for p in target.iterdir()) == ["b.json"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["job"]

    with pytest.raises(RuntimeError):
        with atomic_output(spark, str(tmp_path / "never")) as out:
            out.write_text("half.txt", "x")
            raise RuntimeError("step failed")
    assert not (tmp_path / "never").exists()


def test_executor_powerfl_error_is_recovered(spark):
    def fail(_rows):
        raise DataError("row id '9': bad ciphertext length")

    with pytest.raises(Exception) as info:
        spark.sparkContext.parallelize([1, 2], 2).mapPartitions(fail).collect()
    assert not isinstance(info.value, PowerFLError)
    recovered = runner.powerfl_error_in(info.value)
    assert isinstance(recovered, DataError) and str(recovered) == "row id '9': bad ciphertext length"


def test_crypto_map_is_the_drivers_threads_on_a_local_master_unless_the_conf_says_spark(spark):
    threads = crypto_map(spark)
    assert isinstance(threads, ThreadChunkMap) and threads.parallelism == spark.sparkContext.defaultParallelism
    try:
        spark.conf.set(CRYPTO_EXECUTOR_CONF, "spark")
        assert isinstance(crypto_map(spark), SparkChunkMap)
        spark.conf.set(CRYPTO_EXECUTOR_CONF, "gpu")
        with pytest.raises(ConfigError, match="spark.powerfl.cryptoExecutor: expected 'threads' or 'spark', got 'gpu'"):
            crypto_map(spark)
    finally:
        spark.conf.unset(CRYPTO_EXECUTOR_CONF)


def spec_file(tmp_path: Path, inputs: dict, params: dict | None = None) -> Path:
    spec = {
        "job_id": "job-7",
        "attempt": 2,
        "party_id": "10000",
        "private_key": "/keys/10000.pem",
        "parties": [
            {"id": "10000", "role": "guest", "bootstrap_servers": "localhost:9092", "public_key": "/keys/10000.pub"},
            {"id": "20000", "role": "host", "bootstrap_servers": "localhost:9093", "public_key": "/keys/20000.pub"},
        ],
        "inputs": inputs,
        "outputs": {"dir": str(tmp_path / "out" / "job-7")},
        "nonce": "0f" * 16,
        "params": params or {},
    }
    path = tmp_path / "spec.yaml"
    TaskSpec.from_dict(spec).dump(path)
    return path


def test_runner_reports_a_bad_spec_in_one_line(tmp_path, capsys):
    path = write(tmp_path, "spec.yaml", "job_id: j\nattempt: 1\n")
    assert runner.run_step("inspect_data", lambda spark, spec: None, ["--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"POWERFL-ERROR: task spec {path}: party_id: Field required"]


def test_runner_reports_bad_data_and_writes_nothing(spark, tmp_path, capsys, monkeypatch):
    from spark_jobs import inspect_data

    bad = write(tmp_path, "bad.csv", "id,y,x0\n1,1,0.5\n2,0,oops\n")
    path = spec_file(tmp_path, {"train": {"uri": str(bad), "format": "csv", "label_column": "y"}})
    monkeypatch.setattr(runner, "build_session", lambda name: spark)
    monkeypatch.setattr(spark, "stop", lambda: None)  # the session is shared by the test session
    assert inspect_data.main(["--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("POWERFL-ERROR: file:") and "column 'x0' has a non-numeric value 'oops'" in err[-1]
    assert not (tmp_path / "out").exists()


def spark_submit(tmp_path: Path, spec: Path) -> subprocess.CompletedProcess[str]:
    """The product's command of the step (runtimes.command.step_command), run here."""
    cmd = spark_submit_command("inspect_data", spec)
    return subprocess.run(cmd, cwd=tmp_path, env=submit_env(), capture_output=True, text=True, timeout=300)


def test_spark_submit_passes_exit_2_and_the_error_line(tmp_path):
    spec = write(tmp_path, "spec.yaml", "job_id: j\nattempt: 1\nparty_id: 1\nsurprise: 1\n")
    proc = spark_submit(tmp_path, spec)
    assert proc.returncode == 2, proc.stderr[-3000:]
    # spark-submit's PythonRunner merges the driver's stderr into its stdout
    known = "attempt, inputs, job_id, nonce, outputs, params, parties, party_id, private_key, role, task_id"
    assert step_error_in(proc.stdout + proc.stderr) == f"task spec {spec}: surprise: unknown key (known: {known})"


def test_spark_submit_inspect_data(datasets, tmp_path):
    guest = head(datasets / "fate" / "breast_hetero_guest.csv", tmp_path / "guest.csv", 51)
    a9a = head(datasets / "a9a" / "a9a.host", tmp_path / "a9a.host", 50)
    path = spec_file(
        tmp_path,
        {
            "train": {"uri": guest.as_uri(), "format": "csv", "label_column": "y"},
            "sparse": {"uri": str(a9a), "format": "libsvm", "index_base": 0, "num_features": 74},
        },
    )
    proc = spark_submit(tmp_path, path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((tmp_path / "out" / "job-7" / "statistics.json").read_text())
    assert (stats["job_id"], stats["attempt"], stats["party_id"], stats["role"]) == ("job-7", 2, "10000", "guest")

    train = stats["inputs"]["train"]
    data = np.loadtxt(guest, delimiter=",", skiprows=1)
    assert train["rows"] == 50 and sorted(train["features"]) == sorted(f"x{i}" for i in range(10))
    x3 = train["features"]["x3"]
    assert x3["count"] == 50 and x3["missing_rate"] == 0.0
    assert x3["mean"] == pytest.approx(data[:, 5].mean())
    assert x3["std"] == pytest.approx(data[:, 5].std(ddof=1))
    assert (x3["min"], x3["max"]) == (data[:, 5].min(), data[:, 5].max())
    assert train["label"]["classes"] == {"0.0": int((data[:, 1] == 0).sum()), "1.0": int((data[:, 1] == 1).sum())}

    sparse = stats["inputs"]["sparse"]
    assert len(sparse["features"]) == 74 and "label" not in sparse
    assert sparse["features"]["x5"]["mean"] == pytest.approx(
        sum(" 5:1.0" in f" {line}" for line in a9a.read_text().splitlines()) / 50
    )


def test_spark_submit_maps_the_class_archive(datasets, tmp_path):
    """The archive `make test` dumped (dumped here if missing) is what the product's command maps: the driver
    JVM loads Spark's classes from it, and the step's result is the same."""
    archive, _ = build_archive()
    assert existing_archive() == archive
    guest = head(datasets / "fate" / "breast_hetero_guest.csv", tmp_path / "guest.csv", 31)
    path = spec_file(tmp_path, {"train": {"uri": guest.as_uri(), "format": "csv", "label_column": "y"}})
    cmd = spark_submit_command("inspect_data", path)
    assert any(f'"-XX:SharedArchiveFile={archive}"' in arg for arg in cmd)
    # every JVM spark-submit starts logs where each class came from, one file per process
    env = {**submit_env(), "JDK_JAVA_OPTIONS": f"-Xlog:class+load=info:file={tmp_path}/classes-%p.log"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loads = "".join(log.read_text() for log in tmp_path.glob("classes-*.log"))
    assert "org.apache.spark.SparkContext source: shared objects file (top)" in loads
    stats = json.loads((tmp_path / "out" / "job-7" / "statistics.json").read_text())
    assert stats["inputs"]["train"]["rows"] == 30


def test_py_files_zip_is_importable_alone(tmp_path):
    archive = tmp_path / "spark_jobs.zip"
    out = subprocess.run(
        [sys.executable, "-m", "spark_jobs.package", str(archive)], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(archive)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import spark_jobs.common.io as io, spark_jobs.common.session as s; "
        "assert '.zip' in io.__file__ and not s.PACKAGE_DIR.is_dir(); import spark_jobs.inspect_data"
    )
    subprocess.run([sys.executable, "-c", probe, str(archive)], cwd=tmp_path, check=True, timeout=120)
