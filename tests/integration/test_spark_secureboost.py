"""SecureBoost through the Spark steps: each party a spark-submit process, real Kafka between them.

The inputs are written already aligned (the same ids at both parties) so the test pays for
two steps only (train, predict); the align step has its own test in test_spark_jobs.py.
Small Paillier keys (1024 bits) are set explicitly in the test params only.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.params import validate_step_params
from airflow_provider_powerfl.models import load_model
from tests.support.launch import check_ok, run_parties, write_job

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
SBT = {"n_estimators": 4, "max_depth": 3, "learning_rate": 0.3, "max_bin": 16, "reg_lambda": 1.0, "random_state": 0}


def write_breast(root: Path) -> dict[str, dict[str, dict[str, str]]]:
    """FATE's breast columns, ids divisible by 5 held out, written as each party's aligned CSV inputs."""
    inputs: dict[str, dict[str, dict[str, str]]] = {}
    for pid, side in ((GUEST, "guest"), (HOST, "host")):
        header, *rows = (DATA / f"breast_hetero_{side}.csv").read_text().splitlines()
        inputs[pid] = {}
        for split, keep in (("train", lambda i: i % 5 != 0), ("test", lambda i: i % 5 == 0)):
            path = root / side / f"{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join([header, *(r for r in rows if keep(int(r.split(",", 1)[0])))]) + "\n")
            inputs[pid][split] = {"uri": str(path), "format": "csv", **({"label_column": "y"} if side == "guest" else {})}
    return inputs


def joined(inputs: dict[str, dict[str, dict[str, str]]], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Centralized view in the steps' row order (ids sorted as strings): guest columns, then host columns; labels."""
    g = np.genfromtxt(inputs[GUEST][split]["uri"], delimiter=",", skip_header=1)
    h = np.genfromtxt(inputs[HOST][split]["uri"], delimiter=",", skip_header=1)
    order = np.argsort([str(int(i)) for i in g[:, 0]], kind="stable")
    assert np.array_equal(g[:, 0], h[:, 0])
    return np.hstack([g[order, 2:], h[order, 1:]]), g[order, 1]


@pytest.mark.timeout(1800)  # as test_spark_jobs.py: a JVM start takes minutes on a loaded machine
def test_secureboost_train_predict_equals_plaintext_gbdt(kafka_brokers, tmp_path: Path):
    inputs = write_breast(tmp_path / "data")
    brokers, job = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}, f"sbt-e2e-{uuid.uuid4().hex[:8]}"
    # guest_only_trees=0: every tree on all columns, as the plaintext GBDT it is compared with; the hidden instance
    # space (the default; per-level Spark broadcasts, host cuts for every row at predict) still gives that model exactly
    params = {"algorithm": "secureboost", "objective": "binary", "key_length": 1024, "timeout": 300, "guest_only_trees": 0,
              "hide_instance_space": True, **SBT}  # fmt: skip
    train_inputs = {pid: {"train": i["train"]} for pid, i in inputs.items()}
    trained = run_parties("train", write_job(tmp_path, job, brokers, ROLES, train_inputs, "train", params))
    check_ok("train", trained)
    refs = {pid: run.result["model"] for pid, run in trained.items()}
    assert trained[GUEST].result["metrics"]["trees"] == 4 and trained[GUEST].result["metrics"]["train_auc"] > 0.98

    # each artifact holds its own party's part: the host its thresholds, the guest only (host, split id) for them
    host_state = load_model(refs[HOST]["root"], refs[HOST]["model_id"], refs[HOST]["version"]).state
    guest_state = load_model(refs[GUEST]["root"], refs[GUEST]["model_id"], refs[GUEST]["version"]).state
    assert host_state["splits"] and "model" not in host_state
    host_nodes = [
        s for r in guest_state["model"]["trees"] for t in r for o, s in zip(t["owner"], t["split"], strict=True) if o == HOST
    ]
    assert host_nodes and all(isinstance(s, int) for s in host_nodes)
    host_importance = json.loads((tmp_path / HOST / "train" / "feature_importance.json").read_text())
    assert sum(f["split"] for f in host_importance["features"]) == len(host_state["splits"])
    assert all("gain" not in f for f in host_importance["features"])
    report = json.loads((tmp_path / GUEST / "train" / "report" / "metrics.json").read_text())
    assert set(report["feature_importance"]["by_party"]) == {GUEST, HOST}

    predict_inputs = {pid: {"test": i["test"]} for pid, i in inputs.items()}
    models = {pid: {"model": ref} for pid, ref in refs.items()}
    predicted = run_parties(
        "predict", write_job(tmp_path, job, brokers, ROLES, predict_inputs, "predict", {"timeout": 300}, models)
    )
    check_ok("predict", predicted)
    assert predicted[GUEST].result["metrics"]["auc"] >= 0.95  # only 4 trees of depth 3
    rows = np.genfromtxt(tmp_path / GUEST / "predict" / "predictions.csv", delimiter=",", names=True, encoding="utf-8")

    X, y = joined(inputs, "train")
    T, y_test = joined(inputs, "test")
    plain = GradientBoostedTrees(objective="binary:logistic", **SBT).fit(X, y)
    np.testing.assert_allclose(rows["probability"], plain.predict_proba(T)[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(rows["label"], y_test)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"objective": "poisson"}, r"params\.objective: Input should be 'binary', 'multiclass', 'regression', .*got 'poisson'"),
        ({"max_depth": 0}, r"params\.max_depth: Input should be greater than or equal to 1, got 0"),
        ({"learning_rate": "fast"}, r"params\.learning_rate: Input should be a valid number.*got 'fast'"),
        ({"n_estimator": 3}, r"params\.n_estimator: unknown key \(did you mean 'n_estimators'\?\)"),
    ],
)
def test_bad_secureboost_params_name_the_field(params, message):
    """Checked by the job contract before the JVM starts (spark_jobs.common.runner), as at submit and in the operator."""
    with pytest.raises(ConfigError, match=message):
        validate_step_params("train", {"algorithm": "secureboost", **params})
