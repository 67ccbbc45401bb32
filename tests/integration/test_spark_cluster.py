"""The steps on a real Spark standalone cluster (a master and two workers, separate JVMs), inputs on a real HDFS.

Each party spark-submits against ``spark://...``: its executors run on both workers, so a closure that
captured the party's channel, an object that does not pickle or state kept only in the driver would
fail here, not on ``local[2]``. The same training also runs on ``local[2]`` at the same time (crypto on
the driver's threads there, as Spark tasks on the cluster): the models must be bit-identical.
Small data (3,000 synthetic rows a party, 2,400 shared) and 1024-bit keys, tests only.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from airflow_provider_powerfl.datasets.synthetic import SyntheticSpec, write_synthetic
from airflow_provider_powerfl.models import load_model
from tests.support.hdfs import names, put, read_text
from tests.support.launch import check_ok, run_parties, write_job
from tests.support.spark_cluster import crypto_tasks_by_worker

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
DATA = SyntheticSpec(rows=3000, guest_features=4, host_features=6, overlap=0.8, seed=3)
# one batch of every shared row: each encryption and X^T c is 3 chunks of 1024 rows, so 3 tasks per crypto map
LR = {"key_length": 1024, "max_iter": 2, "batch_size": DATA.shared, "learning_rate": 0.15, "random_state": 0,
      "epsilon": None, "timeout": 600}  # fmt: skip
SBT = {"algorithm": "secureboost", "key_length": 1024, "n_estimators": 2, "max_depth": 2, "max_bin": 8,
       "random_state": 0, "guest_only_trees": 0, "timeout": 600}  # fmt: skip


def run_step(spark, step: str, specs: dict[str, Path], outputs: dict[str, str], cluster=None):
    """Run ``step`` with each party's ``outputs.dir`` set to a URI; (runs, each party's result.json).

    URIs, not plain paths: with HADOOP_CONF_DIR naming HDFS as the default file system, a plain path is an
    HDFS path, as at a party's deployment. The results are read back through Hadoop's client.
    """
    for pid, path in specs.items():
        spec = json.loads(path.read_text())
        spec["outputs"]["dir"] = outputs[pid]
        path.write_text(json.dumps(spec))
    where = {} if cluster is None else {"master": cluster.master, "conf": cluster.conf()}
    runs = run_parties(step, specs, timeout=1500, **where)
    check_ok(f"{step} ({'local[2]' if cluster is None else 'cluster'})", runs)
    return runs, {pid: json.loads(read_text(spark, f"{outputs[pid]}/result.json")) for pid in specs}


def states(results) -> dict[str, dict]:
    refs = {pid: result["model"] for pid, result in results.items()}
    return {pid: load_model(urlparse(r["root"]).path, r["model_id"], r["version"]).state for pid, r in refs.items()}


def train_both_ways(spark, tmp_path: Path, name: str, brokers, inputs, params, cluster):
    """The same training on local[2] and on the cluster, at once: (runs, results) of each, and the cluster run's job id."""
    job = f"cl-{name}-{uuid.uuid4().hex[:6]}"

    def run(where: str):
        work = tmp_path / f"{name}-{where}"
        specs = write_job(work, f"{job}-{where}", brokers, ROLES, inputs, "train", params)
        outputs = {pid: (work / pid / "train").as_uri() for pid in ROLES}  # the model is written with local files
        return run_step(spark, "train", specs, outputs, None if where == "local" else cluster)

    with ThreadPoolExecutor(2) as pool:
        local, remote = pool.map(run, ("local", "cluster"))
    return local, remote, f"{job}-cluster"


@pytest.mark.timeout(2400)
def test_align_hetero_lr_and_secureboost_on_a_standalone_cluster(
    spark, spark_standalone, hdfs, kafka_brokers, tmp_path: Path, monkeypatch
):
    split = write_synthetic(tmp_path / "data", DATA)
    base = f"/cluster-test/{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hdfs.conf_dir))  # the steps' spark-submits inherit it
    for local in (split.guest, split.host):
        put(spark, local, f"{hdfs.uri}{base}/{local.name}")
    brokers = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}
    inputs = {  # hdfs:/// paths: the NameNode comes from HADOOP_CONF_DIR's fs.defaultFS, as at a party
        GUEST: {"train": {"uri": f"hdfs://{base}/guest.csv", "format": "csv", "label_column": "y"}},
        HOST: {"train": {"uri": f"hdfs://{base}/host.csv", "format": "csv"}},
    }
    align_specs = write_job(tmp_path / "align", f"cl-align-{uuid.uuid4().hex[:6]}", brokers, ROLES, inputs, "align",
                            {"timeout": 600})  # fmt: skip
    outputs = {pid: f"{hdfs.uri}{base}/align/{pid}" for pid in ROLES}  # written on HDFS: staging dir, then rename
    _, aligned = run_step(spark, "align", align_specs, outputs, spark_standalone)
    assert aligned[GUEST]["metrics"]["train_intersection"] == DATA.shared
    train_inputs = {pid: {"train": result["outputs"]["train"]} for pid, result in aligned.items()}
    assert train_inputs[HOST]["train"]["uri"] == f"{hdfs.uri}{base}/align/{HOST}/aligned/train"
    assert [n for n in names(spark, f"{hdfs.uri}{base}/align") if "staging" in n] == []

    (local_runs, local), (remote_runs, remote), job = train_both_ways(spark, tmp_path, "lr", brokers, train_inputs, LR,
                                                                      spark_standalone)  # fmt: skip
    assert all("crypto chunks on 2 driver threads" in run.log for run in local_runs.values())
    assert all("crypto chunks as Spark tasks" in run.log for run in remote_runs.values())
    want, got = states(local), states(remote)
    for pid in ROLES:  # bit-identical: the same float64 weights, not merely close ones
        assert np.asarray(got[pid]["coef"]).tobytes() == np.asarray(want[pid]["coef"]).tobytes(), pid
    assert got[GUEST]["intercept"] == want[GUEST]["intercept"]
    lr_tasks = {pid: crypto_tasks_by_worker(spark_standalone, f"powerfl-train-{job}-{pid}") for pid in ROLES}

    (_, local), (_, remote), job = train_both_ways(spark, tmp_path, "sbt", brokers, train_inputs, SBT, spark_standalone)
    assert json.dumps(states(remote), sort_keys=True) == json.dumps(states(local), sort_keys=True)
    sbt_tasks = {pid: crypto_tasks_by_worker(spark_standalone, f"powerfl-train-{job}-{pid}") for pid in ROLES}
    for tasks in (lr_tasks, sbt_tasks):
        for pid, per_worker in tasks.items():  # the chunks ran on both workers' executors, at both parties
            assert len(per_worker) == 2 and all(n > 0 for n in per_worker), (pid, tasks)
    print(f"crypto tasks per worker: hetero LR {lr_tasks}, SecureBoost {sbt_tasks}")
