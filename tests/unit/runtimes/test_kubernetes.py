from __future__ import annotations

import json

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.command import SparkSettings, step_command
from airflow_provider_powerfl.runtimes.kubernetes import (
    SPEC_ENV,
    KubernetesSettings,
    label_value,
    pod_operator,
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
    assert step_failure(RuntimeError("image pull backoff"), "x") is None


def test_label_values_are_legal():
    assert label_value("a" * 70 + "+") == "a" * 63
    assert label_value("::") == "none"
