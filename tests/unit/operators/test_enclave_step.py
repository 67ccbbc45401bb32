"""The ``enclave`` step in the job contract, the pipeline factory, the party connection and the component catalog.

Its run through real Airflow and Kafka at two parties is tests/integration/test_flow_server.py's TEE test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from airflow.sdk import Connection

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.hooks.party import EnclaveHost, PartyConnection
from airflow_provider_powerfl.jobs.conf import JobConf, check_job
from airflow_provider_powerfl.jobs.params import EnclaveParams, validate_step_params
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.operators.enclave import FederatedEnclaveOperator, owner_policy
from airflow_provider_powerfl.orchestration.factory import build_pipeline_dag
from airflow_provider_powerfl.plugins.flow_server.catalog import components

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "pipelines" / "tee_lr.yaml"
CONF = {"parties": ["10000=guest", "20000=host"]}


def test_the_example_pipeline_builds_align_then_the_enclave_step() -> None:
    pipeline = PipelineDef.from_yaml(EXAMPLE)
    dag = build_pipeline_dag(pipeline)
    assert [t.task_id for t in dag.topological_sort()] == ["invite", "align", "train", "peers_trained"]
    train = dag.get_task("train")
    assert isinstance(train, FederatedEnclaveOperator) and train.step == "enclave" and train.inputs_from == ["align"]
    assert train.step_params == {"operation": "train_lr", "enclave_party": "30000"}
    check_job(CONF, pipeline)


def test_the_contract_types_the_enclave_steps_parameters() -> None:
    params = validate_step_params("enclave", {"enclave_party": "30000", "operation": "train_gbdt", "gbdt_trees": 10})
    assert isinstance(params, EnclaveParams) and params.enclave_params()["n_estimators"] == 10
    assert validate_step_params("enclave", {"enclave_party": "3"}).enclave_params() == {"alpha": 1e-3, "max_iter": 1000}
    with pytest.raises(ConfigError, match="params.enclave_party"):
        validate_step_params("enclave", {})
    with pytest.raises(ConfigError, match="params.operation"):
        validate_step_params("enclave", {"enclave_party": "3", "operation": "train_svm"})
    typo = yaml.safe_load(EXAMPLE.read_text())
    typo["tasks"]["train"]["parameters"]["tee_policy_path"] = "/tmp/mine.yaml"  # a pipeline cannot set it either
    with pytest.raises(ConfigError, match=r"tasks\.train\.parameters\.tee_policy_path"):
        PipelineDef.from_dict(typo)


@pytest.mark.parametrize(
    ("conf", "field"),
    [({"common-args": {"tee_policy_path": "/tmp/p.yaml"}}, "dag_run.conf.common-args.tee_policy_path"),
     ({"parties-args": {"20000": {"enclave": {"tee_policy": {"accept_simulated": True}}}}},
      "dag_run.conf.parties-args.20000.enclave.tee_policy")],
)  # fmt: skip
def test_a_job_conf_or_invitation_setting_a_partys_tee_policy_is_refused_naming_the_field(conf: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: refused: a party's TEE policy is its own"):
        JobConf.from_conf({**CONF, **conf}, "run")  # the listener checks an invitation's conf with the same call


def _party(**extra: object) -> PartyConnection:
    fields = {"party_id": "10000", "role": "guest", **extra}
    return PartyConnection.from_connection(Connection(conn_id="powerfl_guest", conn_type="powerfl", extra=json.dumps(fields)))


def test_the_tee_policy_and_the_enclave_host_come_from_the_partys_own_connection(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="field 'tee_policy_path': must name this party's TEE policy file"):
        owner_policy(_party())
    (tmp_path / "tee.yaml").write_text(yaml.safe_dump({"allowed_parties": ["30000"], "allowed_operations": ["train_lr"]}))
    policy = owner_policy(_party(tee_policy_path=str(tmp_path / "tee.yaml")))
    assert policy.allowed_parties == ("30000",) and policy.accept_simulated is False
    host = {"party_id": "30000", "private_key_path": "/k/30000.key", "measured": "/m.json"}
    assert _party(enclave_host=host).enclave_host == EnclaveHost("30000", "/k/30000.key", "/m.json")
    with pytest.raises(ConfigError, match="field 'enclave_host'"):
        _party(enclave_host={"party_id": "30000"})


def test_the_component_catalog_offers_the_enclave_step() -> None:
    entry = {c["id"]: c for c in components()}["enclave"]
    assert entry["task"] == {"component": "enclave"} and entry["group"] == "train"
    assert entry["parameters"]["required"] == ["enclave_party"]
    assert entry["parameters"]["properties"]["operation"]["enum"] == ["train_lr", "train_gbdt", "train_nn"]
    assert "tee_policy_path" not in entry["parameters"]["properties"]
