"""s3a:// inputs and outputs against a real S3 server (S3Proxy), and a Hive table (embedded Derby metastore) on it.

As a party's deployment would run them: a setup spark-submit uploads the party's csv, writes its parquet and
orc inputs to s3a:// and registers a Hive table on them (and checks the reader's errors on bad inputs there);
then the party's FederatedStepOperator runs the inspect_data step (``execute`` with a run's context, in this
process; tests/integration/test_operators.py runs operators under Airflow's own ``dag.test``): it reads csv,
parquet, orc and ``hive://`` inputs and writes its outputs to s3a:// (staging, then rename). The endpoint is in
HADOOP_CONF_DIR; the credentials come only from the ``aws`` Airflow connection that the party's ``powerfl``
connection names, as the step's environment variables: the spec and the command the operator submitted hold
none. The same step under a connection with a wrong secret fails naming the URI (access denied) and leaves no
output. Both steps run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from test_operators import federation, party_env

from airflow_provider_powerfl.operators import FederatedStepOperator
from airflow_provider_powerfl.runtimes.local import StepFailed
from tests.support.launch import REPO, SPARK_CONF, spark_submit_command, submit_env
from tests.support.s3 import BUCKET, S3Server, s3proxy
from tests.support.s3_setup_job import ERRORS_MARK, TABLES_MARK

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


def staged_objects(prefix: Path) -> list[Path]:
    """Objects left in staging directories under a prefix of the server's store (S3Proxy keeps an emptied
    directory on disk after its objects are deleted; S3 lists nothing there, so only files count)."""
    return [p for p in prefix.rglob("*") if ".staging-" in str(p) and p.is_file()]


def s3_secrets_absent(text: str) -> bool:
    return "AWS_" not in text and "secret" not in text.lower()


# the spark-submit the operators run: it keeps what it was given (spec, argv, environment), then runs the real one
RECORDING_SUBMIT = """#!/bin/sh
cp spec.json "{record}/spec-$$.json"; printf '%s\\n' "$@" > "{record}/argv-$$"; env > "{record}/env-$$"
exec "{real}" "$@"
"""


def party_connections(tmp_path: Path, s3: S3Server, base: str) -> dict[str, str]:
    """A party's connections (Airflow's AIRFLOW_CONN_* variables): its powerfl connection names the aws connection; a
    second one names a wrong secret's."""
    env = party_env(tmp_path, federation(tmp_path, {"guest": "127.0.0.1:9", "host": "127.0.0.1:9"}), "10000")
    conn = json.loads(env["AIRFLOW_CONN_POWERFL_DEFAULT"])
    conn["extra"]["policy"] = {"input_prefixes": [base, "hive://party.guest"], "output_dir": base}
    wrong = json.loads(json.dumps(conn))
    conn["extra"]["aws_conn_id"], wrong["extra"]["aws_conn_id"] = "s3_party", "s3_wrong"
    aws = {"conn_type": "aws", "login": s3.access_key, "password": s3.secret_key}
    return {
        "AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(conn),
        "AIRFLOW_CONN_POWERFL_WRONG_KEYS": json.dumps(wrong),
        "AIRFLOW_CONN_S3_PARTY": json.dumps(aws),
        "AIRFLOW_CONN_S3_WRONG": json.dumps({**aws, "password": "wrong-" + s3.secret_key}),
    }


def execute_at_once(operators: list[FederatedStepOperator], conf: dict[str, Any]) -> dict[str, Any]:
    """Each operator's ``execute`` in a run of ``conf`` (a thread each): task id -> its result, or what it raised."""
    context = {"dag_run": SimpleNamespace(conf=conf, run_id=conf["job_id"]),
               "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None)}  # fmt: skip

    def execute(op: FederatedStepOperator) -> Any:
        try:
            return op.execute(context)
        except Exception as exc:  # the wrong secret's step is meant to fail: the test reads why
            return exc

    with ThreadPoolExecutor(len(operators)) as pool:
        return dict(zip([op.task_id for op in operators], pool.map(execute, operators), strict=True))


def recording_submit(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "submitted"
    record.mkdir()
    script = tmp_path / "spark-submit"
    script.write_text(RECORDING_SUBMIT.format(record=record, real=Path(sys.executable).parent / "spark-submit"))
    script.chmod(0o755)
    return script, record


def check_errors_named(output: str, base: str) -> None:
    (line,) = [line for line in output.splitlines() if line.startswith(ERRORS_MARK)]
    errors = json.loads(line[len(ERRORS_MARK) :])
    assert errors["missing"].startswith(f"{base}/missing.csv: cannot read as csv: [PATH_NOT_FOUND]"), errors
    assert errors["no_id"].startswith(f"{base}/no-id: missing id column 'id' (columns: key, x0)"), errors
    assert errors["no_label"].startswith(f"{base}/no-id: missing label column 'y' (columns: key, x0)"), errors
    assert errors["structs"] == f"{base}/structs: column 'x0' has type struct<a:int,b:int>, expected numbers", errors
    assert errors["no_table"].startswith("hive://party.nope: cannot read as hive: [TABLE_OR_VIEW_NOT_FOUND]"), errors


def check_tables_published(output: str, base: str) -> None:
    """Outputs published as Hive tables: named only when complete, a step's own replaced, nobody else's."""
    (line,) = [line for line in output.splitlines() if line.startswith(TABLES_MARK)]
    facts = json.loads(line[len(TABLES_MARK) :])
    assert facts["new_rows"] == 3 and facts["replaced_rows"] == 5, facts
    assert facts["replaced_location"] == f"{base}/job2/data/train", facts
    assert facts["failed_table_exists"] is False, facts
    assert facts["foreign"] == "hive://party.guest: a table no PowerFL step wrote exists there; refusing to replace it"
    assert facts["foreign_rows"] == 4 and facts["tables"] == ["aligned", "guest"], facts  # no staging table left


@pytest.mark.timeout(1800)
def test_inputs_and_outputs_on_s3_and_a_hive_table(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    base = f"s3a://{BUCKET}/party-10000/{uuid.uuid4().hex[:8]}"
    csv = tmp_path / "guest.csv"
    csv.write_text(GUEST_CSV)
    conf = {**s3.spark_conf(), **hive_conf(tmp_path)}
    setup = [*spark_submit_command("class_archive", tmp_path / "x.json", conf=conf)[:-4],
             str(REPO / "tests" / "support" / "s3_setup_job.py"), str(csv), base, "party.guest"]  # fmt: skip
    proc = submit(setup, s3, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    check_errors_named(proc.stdout, base)
    check_tables_published(proc.stdout, base)

    label = {"label_column": "y"}
    inputs = {
        "csv": {"uri": f"{base}/guest.csv", "format": "csv", **label},
        "parquet": {"uri": f"{base}/parquet", "format": "parquet", **label},
        "orc": {"uri": f"{base}/orc", "format": "orc", **label},
        "table": {"uri": "hive://party.guest", "format": "hive", **label},
    }
    submit_script, record = recording_submit(tmp_path)
    spark = {"master": "local[2]", "conf": {**SPARK_CONF, **conf}, "jobs_dir": str(REPO / "spark_jobs"),
             "spark_submit": str(submit_script)}  # fmt: skip
    for name in [n for n in os.environ if n.startswith("AWS_")]:  # no credentials but the connection's
        monkeypatch.delenv(name)
    for name, value in {**party_connections(tmp_path, s3, base), "HADOOP_CONF_DIR": str(s3.conf_dir)}.items():
        monkeypatch.setenv(name, value)  # HADOOP_CONF_DIR: the endpoint, deployment configuration as at a party
    operators = [
        FederatedStepOperator(task_id="inspect", step="inspect_data", inputs=inputs, output_dir=f"{base}/out", spark=spark,
                              publish_events=False),
        FederatedStepOperator(task_id="inspect_wrong_keys", step="inspect_data", inputs={"train": inputs["csv"]},
                              output_dir=f"{base}/bad-out", spark=spark, publish_events=False,
                              powerfl_conn_id="powerfl_wrong_keys"),
    ]  # fmt: skip
    job = {"job_id": f"s3-{uuid.uuid4().hex[:8]}", "nonce": uuid.uuid4().hex, "parties": ["10000=guest", "20000=host"]}
    ran = execute_at_once(operators, job)
    assert isinstance(ran["inspect"], dict), ran["inspect"]
    assert isinstance(ran["inspect_wrong_keys"], StepFailed), ran["inspect_wrong_keys"]

    out = s3.bucket_dir / base.split(f"{BUCKET}/", 1)[1] / "out"
    stats = json.loads((out / "statistics.json").read_text())  # written through s3a, as the server stored it
    for name, got in stats["inputs"].items():
        assert got["rows"] == 4 and got["label"]["classes"] == {"0.0": 2, "1.0": 2}, name
        assert got["features"]["x0"]["mean"] == pytest.approx(np.mean([0.5, 1.5, -0.25, 2])), name
    assert stats["inputs"]["table"]["uri"] == "hive://party.guest"
    assert not staged_objects(out.parent)

    submitted = {json.loads(p.read_text())["task_id"]: p.stem.split("-")[1] for p in record.glob("spec-*.json")}
    assert set(submitted) == {"inspect", "inspect_wrong_keys"}
    for task, pid in submitted.items():  # the credentials reached the step only as its environment
        for what in (f"spec-{pid}.json", f"argv-{pid}"):
            text = (record / what).read_text()
            assert s3.access_key not in text and s3.secret_key not in text and s3_secrets_absent(text), (task, what)
    env = (record / f"env-{submitted['inspect']}").read_text().splitlines()
    assert f"AWS_ACCESS_KEY_ID={s3.access_key}" in env and f"AWS_SECRET_ACCESS_KEY={s3.secret_key}" in env

    # the wrong secret: refused by the server, the step's error names the URI, nothing written
    assert f"failed: {base}/guest.csv: cannot read as csv: access denied: " in str(ran["inspect_wrong_keys"])
    assert not staged_objects(out.parent) and not (out.parent / "bad-out").exists()
