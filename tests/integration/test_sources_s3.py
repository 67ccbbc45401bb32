"""s3a:// inputs and outputs against a real S3 server (S3Proxy), and a Hive table (embedded Derby metastore) on it.

Two spark-submits, as a party's deployment would run them: a setup script uploads the party's csv and writes
its parquet and orc inputs to s3a:// through Spark and registers a Hive table on them; then the inspect_data step reads
csv, parquet, orc and ``hive://`` inputs and writes its outputs to s3a:// (staging, then rename). The
endpoint is in HADOOP_CONF_DIR and the credentials in the AWS SDK's environment variables, never in the
task spec. Reading a missing object fails naming the URI, and leaves no output.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_powerfl.jobs.contract import step_error_in
from airflow_provider_powerfl.jobs.spec import TaskSpec
from tests.support.launch import REPO, spark_submit_command, submit_env
from tests.support.s3 import BUCKET, S3Server, s3proxy

GUEST_CSV = "id,y,x0,x1\na,1,0.5,1\nb,0,1.5,2\nc,1,-0.25,3\nd,0,2,4\n"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    with s3proxy(tmp_path_factory.mktemp("s3")) as server:
        yield server


def hive_conf(work: Path) -> dict[str, str]:
    """A Hive-enabled session on an embedded Derby metastore under ``work`` (a party names its own metastore)."""
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={work / 'metastore_db'};create=true",
        "spark.sql.warehouse.dir": str(work / "warehouse"),
    }


def submit(argv: list[str], s3: S3Server, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**submit_env(), **s3.env()}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def write_spec(work: Path, inputs: dict, out: str) -> Path:
    spec = {
        "job_id": "s3-job", "party_id": "10000", "private_key": "/keys/10000.pem", "nonce": "0f" * 16,
        "parties": [
            {"id": "10000", "role": "guest", "bootstrap_servers": "localhost:9092", "public_key": "/keys/10000.pub"},
            {"id": "20000", "role": "host", "bootstrap_servers": "localhost:9093", "public_key": "/keys/20000.pub"},
        ],
        "inputs": inputs, "outputs": {"dir": out},
    }  # fmt: skip
    path = work / f"spec-{uuid.uuid4().hex[:6]}.yaml"
    TaskSpec.from_dict(spec).dump(path)
    assert s3_secrets_absent(path.read_text())
    return path


def staged_objects(prefix: Path) -> list[Path]:
    """Objects left in staging directories under a prefix of the server's store (S3Proxy keeps an emptied
    directory on disk after its objects are deleted; S3 lists nothing there, so only files count)."""
    return [p for p in prefix.rglob("*") if ".staging-" in str(p) and p.is_file()]


def s3_secrets_absent(text: str) -> bool:
    return "AWS_" not in text and "secret" not in text.lower()


@pytest.mark.timeout(1800)
def test_inputs_and_outputs_on_s3_and_a_hive_table(s3: S3Server, tmp_path: Path):
    base = f"s3a://{BUCKET}/party-10000/{uuid.uuid4().hex[:8]}"
    csv = tmp_path / "guest.csv"
    csv.write_text(GUEST_CSV)
    conf = {**s3.spark_conf(), **hive_conf(tmp_path)}
    setup = [*spark_submit_command("class_archive", tmp_path / "x.json", conf=conf)[:-4],
             str(REPO / "tests" / "support" / "s3_setup_job.py"), str(csv), base, "party.guest"]  # fmt: skip
    proc = submit(setup, s3, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    label = {"label_column": "y"}
    inputs = {
        "csv": {"uri": f"{base}/guest.csv", "format": "csv", **label},
        "parquet": {"uri": f"{base}/parquet", "format": "parquet", **label},
        "orc": {"uri": f"{base}/orc", "format": "orc", **label},
        "table": {"uri": "hive://party.guest", "format": "hive", **label},
    }
    spec = write_spec(tmp_path, inputs, f"{base}/out")
    proc = submit(spark_submit_command("inspect_data", spec, conf=conf), s3, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    out = s3.bucket_dir / base.split(f"{BUCKET}/", 1)[1] / "out"
    stats = json.loads((out / "statistics.json").read_text())  # written through s3a, as the server stored it
    for name, got in stats["inputs"].items():
        assert got["rows"] == 4 and got["label"]["classes"] == {"0.0": 2, "1.0": 2}, name
        assert got["features"]["x0"]["mean"] == pytest.approx(np.mean([0.5, 1.5, -0.25, 2])), name
    assert stats["inputs"]["table"]["uri"] == "hive://party.guest"
    assert not staged_objects(out.parent)

    bad = write_spec(tmp_path, {"train": {"uri": f"{base}/missing.csv", "format": "csv"}}, f"{base}/bad-out")
    proc = submit(spark_submit_command("inspect_data", bad, conf=conf), s3, tmp_path)
    assert proc.returncode == 2
    assert step_error_in(proc.stdout + proc.stderr).startswith(f"{base}/missing.csv: cannot read as csv: [PATH_NOT_FOUND]")
    assert not staged_objects(out.parent) and not (out.parent / "bad-out").exists()
