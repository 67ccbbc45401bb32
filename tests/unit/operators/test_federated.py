from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.operators import (
    FederatedAlignOperator,
    FederatedPredictOperator,
    FederatedStepOperator,
    FederatedTrainOperator,
)
from airflow_provider_powerfl.orchestration.jobcontext import JobContext, job_context


@pytest.fixture
def registry(tmp_path):
    parties = {}
    for party_id, role, port in (("10000", "guest", 19092), ("20000", "host", 29092)):
        _, public = generate_party_keys(tmp_path, party_id)
        parties[party_id] = {"role": role, "bootstrap_servers": f"127.0.0.1:{port}", "public_key": str(public)}
    path = tmp_path / "parties.yaml"
    path.write_text(yaml.safe_dump({"parties": parties}))
    return path


def party(registry, party_id="10000") -> PartyConnection:
    return PartyConnection("powerfl_default", party_id, "guest", None, str(registry), str(registry.parent / f"{party_id}.key"))


def context(conf, xcoms=None, try_number=1):
    """``xcoms``: task id (or (task id, key)) -> value."""
    xcoms = xcoms or {}

    def xcom_pull(task_ids, key="return_value"):
        return xcoms.get(task_ids if key == "return_value" else (task_ids, key))

    return {
        "dag_run": SimpleNamespace(conf=conf, run_id="manual__1"),
        "ti": SimpleNamespace(try_number=try_number, xcom_pull=xcom_pull),
    }


def job(ctx, party) -> JobContext:
    """What the operator reads once per try: the party, its registry, the run's job."""
    return JobContext(
        party, PartyRegistry.from_yaml(party.registry_path), JobConf.from_conf(ctx["dag_run"].conf, ctx["dag_run"].run_id)
    )


def spec_of(op, ctx, party, runtime="local"):
    return op.build_spec(ctx, job(ctx, party), runtime)


NONCE = "0f" * 16
CONF = {"job_id": "J", "parties": ["10000=guest", "20000=host"], "common-args": {"work_dir": "/w"}, "nonce": NONCE}


def test_unknown_algorithm_fails_when_the_dag_is_parsed():
    with pytest.raises(ConfigError, match=r"train: unknown algorithm 'xgboost' \(known: hetero_lr, hetero_nn, secureboost\)"):
        FederatedTrainOperator(task_id="train", algorithm="xgboost")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": "Inspect"}, r"step 'Inspect': expected a spark_jobs entry point"),
        ({"step": "align", "runtime": "docker"}, r"runtime 'docker': expected one of local\|kubernetes"),
        ({"step": "align", "kubernetes": {"namespce": "x"}}, r"kubernetes\.namespce: unknown kubernetes setting"),
    ],
)
def test_bad_operator_arguments_fail_at_parse(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FederatedStepOperator(task_id="t", **kwargs)


def test_templated_fields_are_what_users_set_per_run():
    assert {"inputs", "output_dir", "step_params", "job_id", "work_dir"} <= set(FederatedAlignOperator.template_fields)


def test_a_party_not_in_the_job_fails_at_task_start(registry, monkeypatch):
    monkeypatch.setattr(PowerFLPartyHook, "get_party", lambda hook: party(registry, "20000"))
    conf = {**CONF, "parties": ["10000=guest", "30000=host"]}
    with pytest.raises(ConfigError, match=r"party 20000 \(connection 'powerfl_default'\) is not among the parties of job 'J'"):
        job_context(context(conf))


def test_train_spec_carries_algorithm_attempt_and_upstream_outputs(registry):
    aligned = {"outputs": {"train": {"uri": "/w/J/10000/align/aligned", "format": "parquet"}}, "model": None}
    op = FederatedTrainOperator(task_id="train", inputs_from=["align"], step_params={"max_iter": 3})
    spec = spec_of(op, context(CONF, {"align": aligned}, try_number=3), party(registry), "local")
    assert spec.params == {"max_iter": 3, "algorithm": "hetero_lr"}
    assert spec.attempt == 3 and spec.job_id == "J"
    assert spec.input("train").format == "parquet"
    assert spec.outputs.dir == "/w/J/10000/train"
    assert spec.private_key == str(registry.parent / "10000.key")


def test_the_spec_carries_the_runs_nonce_from_the_conf_else_from_the_invite_task(registry):
    op = FederatedAlignOperator(task_id="align")
    assert spec_of(op, context(CONF), party(registry), "local").nonce == NONCE
    drawn = "ab" * 16  # an initiator's run started without one: its invite task drew it
    no_nonce = {k: v for k, v in CONF.items() if k != "nonce"}
    assert spec_of(op, context(no_nonce, {("invite", "powerfl_nonce"): drawn}), party(registry), "local").nonce == drawn
    with pytest.raises(ConfigError, match=r"dag_run\.conf\.nonce: missing, and no 'invite' task of this run drew one"):
        spec_of(op, context(no_nonce), party(registry), "local")


def test_secureboost_train_spec_carries_its_params(registry):
    op = FederatedTrainOperator(task_id="train", algorithm="secureboost", step_params={"objective": "multiclass", "max_depth": 3})
    spec = spec_of(op, context(CONF), party(registry), "local")
    assert spec.params == {"objective": "multiclass", "max_depth": 3, "algorithm": "secureboost"}


def test_predict_gets_the_upstream_model_and_kubernetes_the_pod_key_path(registry):
    trained = {"outputs": {}, "model": {"root": "/w/J/10000/train/model", "model_id": "m-1", "version": 1}}
    data = {"outputs": {"data": {"uri": "/d.parquet", "format": "parquet"}}}
    op = FederatedPredictOperator(task_id="predict", inputs_from=["align", "train"])
    spec = spec_of(op, context(CONF, {"align": data, "train": trained}), party(registry), "kubernetes")
    assert spec.params["model"] == {"root": "/w/J/10000/train/model", "model_id": "m-1", "version": 1}
    assert spec.private_key == "/etc/powerfl/keys/private.pem"


def test_missing_upstream_result_is_named(registry):
    op = FederatedPredictOperator(task_id="predict", inputs_from=["train"])
    with pytest.raises(ConfigError, match=r"predict: inputs_from 'train' left no step result in XCom"):
        spec_of(op, context(CONF), party(registry), "local")


def test_result_json_feeds_xcom(registry, tmp_path):
    op = FederatedPredictOperator(task_id="predict", output_dir=str(tmp_path / "out"))
    spec = spec_of(op, context(CONF), party(registry), "local")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "result.json").write_text(
        json.dumps(
            {"outputs": {"scores": {"uri": "x", "format": "parquet"}}, "metrics": {"auc": 0.97, "ks": 0.81, "roc": [1, 2]}}
        )
    )
    result = op.read_result(spec)
    assert result["metrics"] == {"auc": 0.97, "ks": 0.81}
    assert result["outputs"] == {"scores": {"uri": "x", "format": "parquet"}}
    assert (result["job_id"], result["party_id"], result["role"], result["step"]) == ("J", "10000", "guest", "predict")


def test_a_failed_pod_reports_the_steps_error_and_its_exit_code(registry, monkeypatch):
    """The guarded operator waits for a peer's reason only on exit 3, so the pod's exit code must survive."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    from airflow_provider_powerfl.runtimes.kubernetes import KubernetesSettings
    from airflow_provider_powerfl.runtimes.local import StepFailed

    def failing_pod(self, context):
        terminated = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=3))
        status = k8s.V1ContainerStatus(name="base", state=terminated, image="i", image_id="", ready=False, restart_count=0)
        self.remote_pod = k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=[status]))
        raise RuntimeError("Pod powerfl-align returned a failure.\nPOWERFL-ERROR: party 20000 failed (DataError)")

    monkeypatch.setattr(KubernetesPodOperator, "execute", failing_pod)
    op = FederatedAlignOperator(task_id="align")
    spec = spec_of(op, context(CONF), party(registry), "kubernetes")
    with pytest.raises(StepFailed, match=r"^step align failed: party 20000 failed \(DataError\)$") as raised:
        op._run_pod(context(CONF), ["spark-submit", "align.py"], spec, KubernetesSettings(), "step align")
    assert raised.value.returncode == 3


def test_a_guarded_step_reads_connection_registry_and_key_once_and_runs_inside_its_guard(registry, monkeypatch):
    from airflow_provider_powerfl.federation.keys import SigningKey
    from airflow_provider_powerfl.operators import step as step_module

    reads = {"connection": 0, "registry": 0, "key": 0}
    real_registry, real_key = PartyRegistry.from_yaml, SigningKey.from_file

    def count(kind, read):
        def counted(*args):
            reads[kind] += 1
            return read(*args)

        return counted

    monkeypatch.setattr(PowerFLPartyHook, "get_party", lambda hook: count("connection", party)(registry))
    monkeypatch.setattr(PartyRegistry, "from_yaml", count("registry", real_registry))
    monkeypatch.setattr(SigningKey, "from_file", count("key", real_key))
    events, guarded = [], []

    class Guard:
        def __init__(self, jc, task_id, attempt, nonce, stop_step):
            self.jc = jc

        def __enter__(self):
            guarded.append(self.jc)
            return self

        def __exit__(self, *exc):
            guarded.append("left")

        def check(self):
            pass

        def wait_while_paused(self):
            pass

    monkeypatch.setattr(step_module, "StepGuard", Guard)
    monkeypatch.setattr(step_module, "existing_archive", lambda: None)
    monkeypatch.setattr(FederatedStepOperator, "_run_local", lambda op, argv, spec, what: None)
    monkeypatch.setattr(
        FederatedStepOperator, "_tell_peers", lambda op, reg, signer, spec, status, reason, strict=False: events.append(status)
    )
    op = FederatedAlignOperator(task_id="align", job_guard=True, output_dir="/tmp/powerfl/out")
    op.execute(context(CONF))
    assert reads == {"connection": 1, "registry": 1, "key": 1}
    assert guarded == [op.job_ctx, "left"] and events == ["running", "success"]
