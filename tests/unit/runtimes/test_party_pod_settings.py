"""A party's own pod settings (its ``powerfl`` connection's ``kubernetes``) shape its step pods, in the jobs it is
invited to as in those it starts, and beat the job conf's."""

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
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.operators import FederatedTrainOperator
from airflow_provider_powerfl.orchestration.jobcontext import JobContext
from airflow_provider_powerfl.runtimes.kubernetes import KubernetesSettings, pod_operator, pod_settings

OWN = {
    "namespace": "power-fl-20000",
    "service_account": "powerfl-airflow",
    "image": "registry.example/powerfl/runtime:0.1.0",
    "image_pull_secrets": ["registry-login"],
    "keys_secret": "powerfl-keys-2026",
    "kafka_secret": "powerfl-partners",
    "env_from_secrets": {"HADOOP_TOKEN": {"secret": "hadoop-token", "key": "token"}},
    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
}


def connection(**kubernetes) -> Connection:
    extra = {"party_id": "20000", "role": "host", "registry_path": "/etc/powerfl/parties.yaml"}
    if kubernetes:
        extra["kubernetes"] = kubernetes
    return Connection(conn_id="powerfl_default", conn_type="powerfl", extra=json.dumps(extra))


@pytest.fixture
def registry(tmp_path):
    parties = {}
    for party_id, role in (("10000", "guest"), ("20000", "host")):
        _, public = generate_party_keys(tmp_path, party_id)
        parties[party_id] = {"role": role, "bootstrap_servers": f"kafka-{party_id}:9092", "public_key": str(public)}
    path = tmp_path / "parties.yaml"
    path.write_text(yaml.safe_dump({"parties": parties}))
    return path


def invited_context(kubernetes=None):
    """A run party 10000 started (its conf may carry its own ``kubernetes``), seen at party 20000."""
    conf = {"job_id": "J", "initiator": "10000", "parties": ["10000=guest", "20000=host"], "nonce": "0f" * 16,
            "common-args": {"work_dir": "/w"}, **({"kubernetes": kubernetes} if kubernetes else {})}  # fmt: skip
    return {"dag_run": SimpleNamespace(conf=conf, run_id="J"), "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None)}


def rendered_pod(settings: KubernetesSettings) -> dict:
    op = pod_operator("train", ["spark-submit", "run.py"], "{}", settings, {"powerfl.party": "20000"})
    pod = ApiClient().sanitize_for_serialization(op.build_pod_request_obj(None, dry_run=True))
    kubernetes_validate.validate(pod, "1.31", strict=True)
    return pod


def test_an_invited_party_runs_its_pods_with_its_own_settings(registry):
    party = PartyConnection.from_connection(connection(**OWN))
    party = PartyConnection(**{**party.__dict__, "registry_path": str(registry)})
    ctx = invited_context(kubernetes={"namespace": "power-fl-10000", "service_account": "guest-runner"})
    op = FederatedTrainOperator(task_id="train", algorithm="hetero_lr", kubernetes={"keys_dir": "/etc/keys"})

    settings = op.pod_settings(ctx, party)
    pod = rendered_pod(settings)

    assert pod["metadata"]["namespace"] == "power-fl-20000"  # not the initiator's, nor the default
    assert pod["spec"]["serviceAccountName"] == "powerfl-airflow"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry-login"}]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example/powerfl/runtime:0.1.0"
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    env = {e["name"]: e for e in container["env"]}
    assert env["HADOOP_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hadoop-token", "key": "token"}}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["powerfl-keys"]["secret"]["secretName"] == "powerfl-keys-2026"
    assert volumes["kafka-secret"]["secret"]["secretName"] == "powerfl-partners"
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["powerfl-keys"] == "/etc/keys"  # the operator's

    # the spec the pod gets names the key where this party's settings mount it
    jc = JobContext(party, PartyRegistry.from_yaml(registry), JobConf.from_conf(ctx["dag_run"].conf, "J"))
    assert op.build_spec(ctx, jc, "kubernetes").private_key == "/etc/keys/private.pem"


def test_without_own_settings_an_invited_party_gets_the_defaults_not_the_initiators(registry):
    party = PartyConnection.from_connection(connection())
    settings = FederatedTrainOperator(task_id="train", algorithm="hetero_lr").pod_settings(
        invited_context(kubernetes={"namespace": "power-fl-10000"}), party
    )
    assert (settings.namespace, settings.service_account) == ("default", None)


def test_the_partys_settings_beat_the_job_conf_of_its_own_runs():
    own_run = {"namespace": "scratch", "service_account": "job-sa", "hadoop_config_map": "hadoop-prod"}
    settings = pod_settings(KubernetesSettings(), own_run, {"namespace": "power-fl-10000", "service_account": "powerfl"})
    assert (settings.namespace, settings.service_account) == ("power-fl-10000", "powerfl")
    assert settings.hadoop_config_map == "hadoop-prod"  # what the party leaves open, the job may set


@pytest.mark.parametrize(
    ("kubernetes", "field", "problem"),
    [
        ({"namespace": "Power_FL"}, "kubernetes.namespace", "Kubernetes namespace name"),
        ({"service_account": "a b"}, "kubernetes.service_account", "name of a Kubernetes object"),
        ({"image": ""}, "kubernetes.image", "image reference"),
        ({"keys_dir": "keys"}, "kubernetes.keys_dir", "absolute path"),
        ({"image_pull_secrets": "registry-login"}, "kubernetes.image_pull_secrets", "list of Secret names"),
        ({"env_from_secrets": {"POWERFL_TASK_SPEC": {"secret": "s", "key": "k"}}},
         "kubernetes.env_from_secrets.POWERFL_TASK_SPEC", "environment variable name"),
        ({"env_from_secrets": {"TOKEN": {"secret": "s"}}}, "kubernetes.env_from_secrets.TOKEN", "secret: <Secret name>"),
        ({"resources": {"request": {"cpu": "1"}}}, "kubernetes.resources.request", "requests or limits"),
        ({"namespce": "fl"}, "kubernetes.namespce", "unknown kubernetes setting"),
    ],
)  # fmt: skip
def test_a_bad_pod_setting_in_the_connection_is_named(kubernetes, field, problem):
    with pytest.raises(ConfigError, match=rf"^connection 'powerfl_default' field '{field}': .*{problem}"):
        PartyConnection.from_connection(connection(**kubernetes))


def test_the_ui_may_hold_the_settings_as_json_text():
    def conn(kubernetes):
        extra = {"party_id": "20000", "role": "host", "kubernetes": kubernetes}
        return Connection(conn_id="powerfl_default", conn_type="powerfl", extra=json.dumps(extra))

    assert PartyConnection.from_connection(conn(json.dumps({"namespace": "fl"}))).kubernetes == {"namespace": "fl"}
    with pytest.raises(ConfigError, match=r"field 'kubernetes': expected a mapping"):
        PartyConnection.from_connection(conn(["fl"]))
