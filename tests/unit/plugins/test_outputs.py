"""This party's own outputs: a model version's files as tar.gz, the first rows of its aligned Parquet (flow_server.outputs)."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import HTTPException

from airflow_provider_powerfl.plugins.flow_server.outputs import local_path, model_dir, preview_rows, tar_gz


def test_a_model_version_directory_is_found_from_the_step_result_and_archived(tmp_path):
    version = tmp_path / "model" / "job" / "10000" / "hetero_lr" / "v1"
    version.mkdir(parents=True)
    (version / "model.json").write_text(json.dumps({"model_id": "job/10000/hetero_lr", "version": 1}))
    (version / "state.json").write_text("{}")
    (tmp_path / "model" / "outside.txt").write_text("not this one")
    result = {"model": {"root": f"file://{tmp_path / 'model'}", "model_id": "job/10000/hetero_lr", "version": 1}}
    found, model = model_dir(result, "job", "train")
    assert found == version.resolve() and model["version"] == 1
    with tarfile.open(fileobj=io.BytesIO(tar_gz(found, "job-10000-train-v1"))) as archive:
        assert sorted(archive.getnames()) == ["job-10000-train-v1/model.json", "job-10000-train-v1/state.json"]


def test_a_missing_or_escaping_model_is_a_404_naming_it(tmp_path):
    with pytest.raises(HTTPException) as missing:
        model_dir({"model": {"root": str(tmp_path), "model_id": "job/1/lr", "version": 2}}, "job", "train")
    assert missing.value.status_code == 404 and "job/1/lr v2" in missing.value.detail
    with pytest.raises(HTTPException) as escaping:
        model_dir({"model": {"root": str(tmp_path / "a"), "model_id": "../..", "version": 1}}, "job", "train")
    assert escaping.value.status_code == 404
    with pytest.raises(HTTPException) as none:
        model_dir({"model": None}, "job", "align")
    assert "saved no model" in none.value.detail
    with pytest.raises(HTTPException) as remote:
        local_path("hdfs:///powerfl/out", "model root")
    assert "not on this party's file system" in remote.value.detail


def test_the_preview_is_the_first_100_rows_of_a_spark_parquet_directory(tmp_path):
    out = tmp_path / "aligned" / "train"
    out.mkdir(parents=True)
    ids = [str(i) for i in range(250)]
    table = pa.table({"id": ids, "x0": [float(i) / 2 for i in range(250)], "x1": [float("nan")] * 250})
    pq.write_table(table, out / "part-00000.parquet")
    (out / "_SUCCESS").write_text("")
    (out / ".part-00000.parquet.crc").write_bytes(b"\0")
    columns, rows, total = preview_rows(out)
    assert columns == ["id", "x0", "x1"] and total == 250 and len(rows) == 100
    assert rows[0] == ["0", 0.0, None] and rows[99][0] == "99"
