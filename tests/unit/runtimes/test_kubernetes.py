from __future__ import annotations

import json

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient, models as k8s

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.runtimes.command import SparkSettings, step_command
from airflow_provider_powerfl.runtimes.kubernetes import (
    SPEC_ENV,
    KubernetesSettings,
    label_value,
    pod_operator,
    spec_for_pod,
    step_failure,
)

SPEC = {"job_id": "job:1", "party_id": "10000"}


def build_pod(settings: KubernetesSettings, argv: list[str]) -> dict:
    op = pod_operator(
        "train", argv, json.dumps(SPEC), settings, {"powerfl.job": "manual__2024-06-01T00:00:00+00:00", "powerfl.party": "10000"}
    )
    pod = op.build_pod_request_obj(None, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


@pytest.mark.parametrize("master", ["local[*]", "yarn", "k8s://https://kubernetes.default.svc:443"])
def test_pod_validates_and_runs_the_local_command(master):
    spark = SparkSettings(master=master, conf={"spark.executor.memory": "2g"}, jobs_dir="/opt/powerfl/spark_jobs")
    argv = step_command("train", "powerfl-train-job-10000", spark)
    settings = KubernetesSettings(
        image="registry.example/powerfl:0.1.0",
        namespace="fl",
        service_account="powerfl-runner",
        resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "6Gi"}},
    )
    pod = build_pod(settings, argv)
    kubernetes_validate.validate(pod, "1.31", strict=True)

    (container,) = pod["spec"]["containers"]
    assert container["args"] == step_command("train", "powerfl-train-job-10000", spark)
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert pod["metadata"]["namespace"] == "fl"
    assert pod["spec"]["serviceAccountName"] == "powerfl-runner"
    assert container["image"] == "registry.example/powerfl:0.1.0"
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "6Gi"}}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert json.loads(env[SPEC_ENV]) == SPEC
    assert env["HADOOP_CONF_DIR"] == "/etc/hadoop/conf"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["hadoop-conf"]["configMap"]["name"] == "hadoop"
    assert volumes["powerfl-keys"]["secret"]["secretName"] == "powerfl-keys"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["hadoop-conf"] == "/etc/hadoop/conf"
    assert mounts["powerfl-keys"] + "/private.pem" == settings.private_key_path
    assert pod["metadata"]["labels"]["powerfl.job"] == "manual__2024-06-01T00_00_00_00_00"


def test_no_hadoop_config_map_means_no_hadoop_conf_dir():
    pod = build_pod(KubernetesSettings(hadoop_config_map=None), ["spark-submit", "x.py"])
    kubernetes_validate.validate(pod, "1.31", strict=True)
    assert "HADOOP_CONF_DIR" not in {e["name"] for e in pod["spec"]["containers"][0]["env"]}


def test_settings_from_the_run_conf_override_and_reject_unknown_fields():
    base = KubernetesSettings(image="a")
    assert base.updated({"namespace": "fl", "hadoop_config_map": "hadoop-prod"}, "conf").hadoop_config_map == "hadoop-prod"
    with pytest.raises(ConfigError, match=r"^conf\.imagee: unknown kubernetes setting"):
        base.updated({"imagee": "b"}, "conf")


def test_pod_failure_surfaces_the_jobs_own_error():
    exc = RuntimeError("Pod powerfl-train returned a failure.\n...\nPOWERFL-ERROR: inputs.train.uri: missing\n")
    failed = step_failure(exc, "step train of job 'J' at party 10000")
    assert str(failed) == "step train of job 'J' at party 10000 failed: inputs.train.uri: missing"
    assert failed.returncode == 2  # no pod status to read
    assert step_failure(RuntimeError("image pull backoff"), "x") is None


def terminated_pod(container: str, code: int) -> k8s.V1Pod:
    state = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code))
    status = k8s.V1ContainerStatus(name=container, state=state, image="i", image_id="", ready=False, restart_count=0)
    return k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=[status]))


def test_a_pod_stopped_by_a_peer_keeps_its_exit_code():
    """Exit 3 (a peer failed or went silent) lets the operator wait for that peer's own reason."""
    exc = RuntimeError("Pod powerfl-train returned a failure.\nPOWERFL-ERROR: party 20000 failed (DataError)\n")
    assert step_failure(exc, "step", terminated_pod("base", 3), "base").returncode == 3
    assert step_failure(exc, "step", terminated_pod("sidecar", 3), "base").returncode == 2


def test_label_values_are_legal():
    assert label_value("a" * 70 + "+") == "a" * 63
    assert label_value("::") == "none"


def sasl_spec() -> TaskSpec:
    party = {"role": "guest", "bootstrap_servers": ["kafka-a:9092"], "public_key": "/keys/10000.pub"}
    security = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "powerfl",
        "sasl_plain_password": "pw-of-20000",
    }
    return TaskSpec.from_dict(
        {
            "job_id": "job-1",
            "party_id": "10000",
            "role": "guest",
            "private_key": "/etc/powerfl/keys/private.pem",
            "parties": [
                {"id": "10000", **party, "security": {"security_protocol": "SSL", "ssl_password": "pw-of-10000-key"}},
                {**party, "id": "20000", "role": "host", "bootstrap_servers": ["kafka-b:9092"], "security": security},
            ],
            "inputs": {},
            "outputs": {"dir": "/out"},
            "nonce": "0f" * 16,
        }
    )


def test_a_kafka_password_needs_a_secret_in_the_kubernetes_runtime():
    with pytest.raises(ConfigError, match=r"kubernetes\.kafka_secret: party 10000's Kafka ssl_password"):
        spec_for_pod(sasl_spec(), KubernetesSettings())


def test_kafka_passwords_reach_the_pod_as_secret_files_only(tmp_path):
    settings = KubernetesSettings(kafka_secret="powerfl-kafka", kafka_secret_dir=str(tmp_path))
    spec = spec_for_pod(sasl_spec(), settings)
    op = pod_operator("train", ["spark-submit"], json.dumps(spec.to_dict()), settings, {})
    pod = ApiClient().sanitize_for_serialization(op.build_pod_request_obj(None, dry_run=True))
    kubernetes_validate.validate(pod, "1.31", strict=True)
    rendered = json.dumps(pod)  # every field of the pod as the API server would store it
    assert "pw-of-20000" not in rendered and "pw-of-10000-key" not in rendered
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["kafka-secret"]["secret"]["secretName"] == "powerfl-kafka"
    (container,) = pod["spec"]["containers"]
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["kafka-secret"] == str(tmp_path)

    # in the pod: the spec from the environment, the password from the mounted Secret
    (tmp_path / "20000.sasl_plain_password").write_text("pw-of-20000\n")
    (tmp_path / "10000.ssl_password").write_text("pw-of-10000-key\n")
    env = {e["name"]: e["value"] for e in container["env"]}
    in_pod = TaskSpec.from_dict(json.loads(env[SPEC_ENV]))
    kwargs = in_pod.party("20000").security.client_kwargs()
    assert kwargs["sasl_plain_password"] == "pw-of-20000" and "sasl_plain_password_file" not in kwargs
    assert in_pod.party("10000").security.client_kwargs()["ssl_password"] == "pw-of-10000-key"


def test_an_unreadable_password_file_is_named():
    spec = spec_for_pod(sasl_spec(), KubernetesSettings(kafka_secret="powerfl-kafka", kafka_secret_dir="/nonexistent"))
    with pytest.raises(
        ConfigError, match=r"security\.sasl_plain_password_file: cannot read /nonexistent/20000\.sasl_plain_password"
    ):
        spec.party("20000").security.client_kwargs()
