"""The steps on a real Spark standalone cluster (a master and two workers, separate JVMs), inputs on a real HDFS.

Each party spark-submits against ``spark://...``: its executors run on both workers, so a closure that
captured the party's channel, an object that does not pickle or state kept only in the driver would
fail here, not on ``local[2]``. Align runs on the cluster only (its output feeds both ways); feature
engineering (federated WOE/IV binning), hetero LR, predict with that model and SecureBoost also run on
``local[2]`` at the same time (crypto on the driver's threads there, as Spark tasks on the cluster): the
models, the transformed data and the predictions must be bit-identical. Feature engineering and SecureBoost
share a round (four applications on the cluster at once: the workers offer four cores each).
Small data (3,000 synthetic rows a party, 2,400 shared), 1024-bit keys and one SecureBoost tree, tests only.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow.parquet as pq
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
SBT = {"algorithm": "secureboost", "key_length": 1024, "n_estimators": 1, "max_depth": 2, "max_bin": 8,
       "random_state": 0, "guest_only_trees": 0, "timeout": 600}  # fmt: skip
FE = {"mode": "fit", "binning": {"method": "quantile", "n_bins": 4, "key_length": 1024}, "select": {"method": "top_k", "k": 6},
      "transform": "woe", "timeout": 600}  # fmt: skip


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


def both_ways(spark, tmp_path: Path, step: str, name: str, brokers, inputs, params, cluster, party_params=None):
    """The same step on local[2] and on the cluster, at once: (runs, results) of each, and the cluster run's job id.

    ``party_params``: "local"/"cluster" -> party id -> that run's own params (e.g. its model reference).
    """
    job = f"cl-{name}-{uuid.uuid4().hex[:6]}"

    def run(where: str):
        work = tmp_path / f"{name}-{where}"
        own = (party_params or {}).get(where)
        specs = write_job(work, f"{job}-{where}", brokers, ROLES, inputs, step, params, own)
        outputs = {pid: (work / pid / step).as_uri() for pid in ROLES}  # models are written with local files
        return run_step(spark, step, specs, outputs, None if where == "local" else cluster)

    with ThreadPoolExecutor(2) as pool:
        local, remote = pool.map(run, ("local", "cluster"))
    return local, remote, f"{job}-cluster"


def local_file(uri: str) -> Path:
    return Path(urlparse(uri).path)


def close(got, want) -> bool:
    """Equal JSON-like values, floats within 1e-12 relative: feature engineering sums the WOE/IV counts of
    its chunks in the order they arrive, so the last bits of a float may differ from run to run."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(close, got, want))
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=1e-12, abs=1e-15)
    return got == want


def crypto_tasks(cluster, step: str, job: str) -> dict[str, list[int]]:
    return {pid: crypto_tasks_by_worker(cluster, f"powerfl-{step}-{job}-{pid}") for pid in ROLES}


@pytest.mark.timeout(3600)
def test_align_fe_lr_predict_and_secureboost_on_a_standalone_cluster(
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

    def fe_and_secureboost():  # independent of each other: one round, four applications on the cluster
        with ThreadPoolExecutor(2) as pool:
            fe = pool.submit(both_ways, spark, tmp_path, "feature_engineering", "fe", brokers, train_inputs, FE, spark_standalone)
            sbt = pool.submit(both_ways, spark, tmp_path, "train", "sbt", brokers, train_inputs, SBT, spark_standalone)
            return fe.result(), sbt.result()

    ((_, fe_local), (_, fe_remote), fe_job), ((_, local), (_, remote), sbt_job) = fe_and_secureboost()
    assert json.dumps(states(remote), sort_keys=True) == json.dumps(states(local), sort_keys=True)  # SecureBoost
    for pid in ROLES:  # feature engineering: the same bins, selection and rows; WOE/IV to the last bits (see close)
        want, got = (tmp_path / f"fe-{where}" / pid / "feature_engineering" / "woe_iv.json" for where in ("local", "cluster"))
        assert close(json.loads(got.read_text()), json.loads(want.read_text())), pid
        want, got = (pq.read_table(local_file(r[pid]["outputs"]["train"]["uri"])).to_pydict() for r in (fe_local, fe_remote))
        assert close(got, want), pid

    (local_runs, local), (remote_runs, remote), job = both_ways(spark, tmp_path, "train", "lr", brokers, train_inputs, LR,
                                                                spark_standalone)  # fmt: skip
    assert all("crypto chunks on 2 driver threads" in run.log for run in local_runs.values())
    assert all("crypto chunks as Spark tasks" in run.log for run in remote_runs.values())
    want, got = states(local), states(remote)
    for pid in ROLES:  # bit-identical: the same float64 weights, not merely close ones
        assert np.asarray(got[pid]["coef"]).tobytes() == np.asarray(want[pid]["coef"]).tobytes(), pid
    assert got[GUEST]["intercept"] == want[GUEST]["intercept"]

    models = {where: {pid: {"model": r[pid]["model"]} for pid in ROLES} for where, r in (("local", local), ("cluster", remote))}
    test_inputs = {pid: {"test": spec["train"]} for pid, spec in train_inputs.items()}
    (_, p_local), (_, p_remote), p_job = both_ways(spark, tmp_path, "predict", "predict", brokers, test_inputs,
                                                   {"timeout": 600}, spark_standalone, models)  # fmt: skip
    predictions = [local_file(r[GUEST]["outputs"]["predictions"]["uri"]).read_bytes() for r in (p_local, p_remote)]
    assert predictions[0] == predictions[1] and len(predictions[0].splitlines()) == DATA.shared + 1
    assert p_remote[GUEST]["metrics"] == p_local[GUEST]["metrics"] and p_remote[GUEST]["metrics"]["auc"] > 0.5

    tasks = {"hetero LR": crypto_tasks(spark_standalone, "train", job),
             "SecureBoost": crypto_tasks(spark_standalone, "train", sbt_job),
             "feature engineering": crypto_tasks(spark_standalone, "feature_engineering", fe_job)}  # fmt: skip
    for pid, per_worker in tasks["hetero LR"].items():  # the chunks ran on both workers' executors, at both parties
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker), (pid, tasks)
    for per_party in tasks.values():  # every crypto step's chunks were the cluster executors' tasks
        assert sum(map(sum, per_party.values())) > 0, tasks
    print(f"crypto tasks per worker: {tasks}; predict job {p_job}")
