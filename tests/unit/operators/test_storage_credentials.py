"""The object store's credentials come from an ``aws`` Airflow connection the party's ``powerfl`` connection names:
the step's process gets them as environment variables, a step pod as references to a Secret; never the spec."""

from __future__ import annotations

import json
from types import SimpleNamespace

import kubernetes_validate
import pytest
import yaml
from airflow.sdk import Connection
from kubernetes.client import ApiClient

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection
from airflow_provider_powerfl.hooks.storage import aws_environment
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.operators import FederatedStepOperator
from airflow_provider_powerfl.orchestration.jobcontext import JobContext
from airflow_provider_powerfl.runtimes.kubernetes import KubernetesSettings, pod_operator

SECRET = "s3-secret-" + "x" * 24
AWS = {"conn_type": "aws", "login": "AKIDPOWERFL", "password": SECRET, "extra": {"aws_session_token": "tok-123456"}}


@pytest.fixture
def aws_conn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_S3_PARTY", json.dumps(AWS))
    monkeypatch.setenv("AIRFLOW_CONN_NOT_AWS", json.dumps({**AWS, "conn_type": "http"}))
    monkeypatch.setenv("AIRFLOW_CONN_NO_SECRET", json.dumps({**AWS, "password": None}))


def party(tmp_path, **extra) -> PartyConnection:
    parties = {}
    for party_id, role in (("10000", "guest"), ("20000", "host")):
        public = tmp_path / f"{party_id}.pub"
        if not public.exists():
            generate_party_keys(tmp_path, party_id)
        parties[party_id] = {"role": role, "bootstrap_servers": "127.0.0.1:19092", "public_key": str(public)}
    registry = tmp_path / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": parties}))
    fields = {"party_id": "10000", "role": "guest", "registry_path": str(registry), "private_key_path": "/k/10000.key",
              "policy": {"output_dir": "/w"}, **extra}  # fmt: skip
    return PartyConnection.from_connection(Connection(conn_id="powerfl_default", conn_type="powerfl", extra=json.dumps(fields)))


def test_the_aws_connection_becomes_the_sdks_variables_and_bad_ones_are_named(aws_conn):
    assert aws_environment("s3_party") == {
        "AWS_ACCESS_KEY_ID": "AKIDPOWERFL",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": "tok-123456",
    }
    with pytest.raises(ConfigError, match=r"^connection 'not_aws' field 'conn_type': expected aws"):
        aws_environment("not_aws")
    with pytest.raises(ConfigError, match=r"^connection 'no_secret' field 'password': must be the secret access key"):
        aws_environment("no_secret")
    with pytest.raises(ConfigError, match=r"^aws_conn_id: no Airflow connection 'missing'"):
        aws_environment("missing")


def test_a_local_step_gets_the_credentials_in_its_environment_and_the_spec_holds_none(aws_conn, tmp_path):
    me = party(tmp_path, aws_conn_id="s3_party")
    assert me.aws_conn_id == "s3_party"
    op = FederatedStepOperator(task_id="inspect", step="inspect_data", inputs={"d": {"uri": "s3a://b/d.csv", "format": "csv"}})
    conf = {"job_id": "J", "parties": ["10000=guest", "20000=host"], "nonce": "0f" * 16}
    ctx = {"dag_run": SimpleNamespace(conf=conf, run_id="J"), "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None)}
    op.job_ctx = JobContext(me, PartyRegistry.from_yaml(me.registry_path), JobConf.from_conf(conf, "J"))
    env = op.step_environment()
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET and env["AWS_ACCESS_KEY_ID"] == "AKIDPOWERFL"
    spec = json.dumps(op.build_spec(ctx, op.job_ctx, "local").to_dict())
    assert "AKIDPOWERFL" not in spec and SECRET not in spec
    op.job_ctx = JobContext(party(tmp_path), op.job_ctx.registry, op.job_ctx.job)
    assert op.step_environment() is None  # no aws_conn_id: the worker's environment as it is


def test_a_step_pod_takes_them_from_a_secret_never_as_values(aws_conn, tmp_path):
    settings = KubernetesSettings(aws_secret="powerfl-s3")
    op = pod_operator("inspect", ["spark-submit", "run.py"], "{}", settings, {"powerfl.job": "J"})
    pod = ApiClient().sanitize_for_serialization(op.build_pod_request_obj(None, dry_run=True))
    kubernetes_validate.validate(pod, "1.31", strict=True)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "powerfl-s3"
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    assert env["AWS_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert SECRET not in json.dumps(pod)

    step = FederatedStepOperator(task_id="inspect", step="inspect_data")
    me = party(tmp_path, aws_conn_id="s3_party")
    step.job_ctx = JobContext(me, PartyRegistry.from_yaml(me.registry_path), JobConf.from_conf({"parties": ["10000=guest"]}, "J"))
    with pytest.raises(ConfigError, match=r"field 'aws_conn_id': a step pod takes the object store's credentials from a Secret"):
        step._run_pod({}, ["spark-submit"], None, KubernetesSettings(), "step inspect_data")
