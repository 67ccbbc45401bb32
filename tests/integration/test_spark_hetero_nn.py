"""Hetero NN through the Spark steps: each party a spark-submit process, real Kafka between them.

The inputs are written already aligned (test_spark_secureboost's breast split) so the test pays for two steps only
(train, predict); small Paillier keys (1024 bits) are set explicitly in the test params only.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.params import validate_step_params
from airflow_provider_powerfl.models import load_model
from tests.integration.test_spark_secureboost import GUEST, HOST, ROLES, write_breast
from tests.support.launch import check_ok, run_parties, write_job

NN = {"algorithm": "hetero_nn", "key_length": 1024, "timeout": 300, "max_iter": 4, "batch_size": 64, "random_state": 0}


@pytest.mark.timeout(1800)  # as test_spark_jobs.py: a JVM start takes minutes on a loaded machine
def test_hetero_nn_train_predict_through_spark_and_kafka(kafka_brokers, tmp_path: Path):
    inputs = write_breast(tmp_path / "data")
    brokers, job = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}, f"hnn-e2e-{uuid.uuid4().hex[:8]}"
    trained = run_parties(
        "train", write_job(tmp_path, job, brokers, ROLES, {p: {"train": i["train"]} for p, i in inputs.items()}, "train", NN)
    )
    check_ok("train", trained)
    assert trained[GUEST].result["metrics"]["n_iter"] == 4 and trained[GUEST].result["metrics"]["train_auc"] > 0.97
    refs = {pid: run.result["model"] for pid, run in trained.items()}
    host_state = load_model(refs[HOST]["root"], refs[HOST]["model_id"], refs[HOST]["version"]).state
    guest_state = load_model(refs[GUEST]["root"], refs[GUEST]["model_id"], refs[GUEST]["version"]).state
    # each artifact holds its own party's part: the host its bottom model and its factor U, the guest the rest
    assert host_state["factor"] and "top" not in host_state and "links" not in host_state
    assert set(guest_state["links"]) == {HOST} and "factor" not in guest_state

    models = {pid: {"model": ref} for pid, ref in refs.items()}
    predicted = run_parties(
        "predict",
        write_job(
            tmp_path,
            job,
            brokers,
            ROLES,
            {p: {"test": i["test"]} for p, i in inputs.items()},
            "predict",
            {"timeout": 300},
            models,
        ),
    )
    check_ok("predict", predicted)
    assert predicted[GUEST].result["metrics"]["auc"] >= 0.97


def test_bad_hetero_nn_params_name_the_field():
    """Checked by the job contract before the JVM starts, as at submit and in the operator."""
    with pytest.raises(ConfigError, match=r"params\.mode"):
        validate_step_params("train", {"algorithm": "hetero_nn", "mode": "clear"})
    with pytest.raises(ConfigError, match=r"params: epsilon=8.0 needs max_norm"):
        validate_step_params("train", {"algorithm": "hetero_nn", "max_norm": None, "epsilon": 8.0})
