from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.definitions.param import ParamsDict

from airflow_provider_powerfl.federation.events import StatusEvent
from airflow_provider_powerfl.jobs.pipeline import PipelineDef, load_pipelines
from airflow_provider_powerfl.operators.federated import FederatedTrainOperator
from airflow_provider_powerfl.operators.listener import InvitedRunOperator
from airflow_provider_powerfl.orchestration.factory import build_listener_dag, build_pipeline_dag
from airflow_provider_powerfl.orchestration.jobcontext import is_initiator
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, job_failure

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dag():
    return build_pipeline_dag(PipelineDef.from_yaml(REPO / "dags" / "pipelines" / "hetero_lr.yaml"))


def test_the_pipeline_dag_starts_with_invite_and_guards_every_step(dag):
    assert dag.get_task("align").upstream_task_ids == {"invite"}
    assert dag.get_task("predict").upstream_task_ids == {"align", "train"}
    train = dag.get_task("train")
    assert isinstance(train, FederatedTrainOperator) and train.algorithm == "hetero_lr"
    assert all(dag.get_task(t).job_guard for t in ("align", "train", "predict"))
    assert all(t.on_failure_callback for t in dag.tasks)


def test_the_listener_runs_every_minute_and_knows_the_pipelines(dag):
    pipelines = load_pipelines(REPO / "dags" / "pipelines")
    listener = build_listener_dag(pipelines)
    listen = listener.get_task("listen")
    assert listen.pipelines == [
        "powerfl_pipeline_hetero_lr",
        "powerfl_pipeline_tee_lr",
    ]  # who may start jobs is the connection's policy, not the DAG's
    start = listener.get_task("start")  # one TriggerDagRunOperator per accepted invitation
    assert start.operator_class is InvitedRunOperator and start.upstream_task_ids == {"listen"}
    assert start.partial_kwargs["retries"] == 3  # a busy api-server's timeout does not refuse the job
    run = {"dag_id": pipelines[0].dag_id, "job_id": "j-1", "initiator": "10000", "conf": {"nonce": "0f" * 16}}
    unmapped = start.unmap({"invitation": run})  # as the worker makes it: the partial's arguments and one invitation
    assert unmapped.trigger_run_id == "j-1" and unmapped.on_success_callback and unmapped.on_failure_callback
    # not @continuous: a failed continuous run stopped every later one
    assert listener.schedule == "* * * * *" and listener.max_active_runs == 1 and not listener.catchup


def _validate(dag, conf):
    params = ParamsDict(dag.params)
    params.update(conf)
    return params.validate()


def test_a_good_conf_passes_the_params(dag):
    conf = {"job_id": "j-1", "parties": ["10000=guest", "20000=host"], "common-args": {"train": {"max_iter": 3}},
            "parties-args": {"10000": {"align": {"inputs": {"train": {"uri": "/d.csv", "format": "csv"}}}}}}  # fmt: skip
    assert _validate(dag, conf)["job_id"] == "j-1"


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"parties": ["10000:guest", "20000=host"]}, "parties"),
        ({"common-args": {"train": 5}}, "common-args"),
        ({"parties-args": {"10000": {"align": {"inputs": {"train": {"uri": 7}}}}}}, "parties-args"),
        ({"job_id": "bad id with spaces"}, "job_id"),
    ],
)
def test_a_wrong_field_is_refused_naming_it(dag, conf, field):
    with pytest.raises(Exception, match=field):
        _validate(dag, conf)


def test_job_failure_is_another_partys_job_event():
    mine = StatusEvent("j", "10000", JOB_TASK, "failed", 1, "x")
    task = StatusEvent("j", "20000", "train", "failed", 1, "y")
    theirs = StatusEvent("j", "20000", JOB_TASK, "failed", 1, "z")
    assert job_failure([mine, task], "10000") is None
    assert job_failure([mine, task, theirs], "10000") is theirs


def test_only_a_run_without_initiator_invites():
    assert is_initiator({}, "10000") and is_initiator({"initiator": "10000"}, "10000")
    assert not is_initiator({"initiator": "20000"}, "10000")


def test_a_pipelines_max_active_jobs_bounds_its_runs_at_each_party(tmp_path):
    """More jobs than that wait queued, before ``invite``: an invited party hears of a job only once it runs."""
    (tmp_path / "lr.yaml").write_text((REPO / "dags" / "pipelines" / "hetero_lr.yaml").read_text())
    (pipeline,) = load_pipelines(tmp_path)
    assert build_pipeline_dag(pipeline).max_active_runs == 16
    assert build_pipeline_dag(pipeline.model_copy(update={"max_active_jobs": 2})).max_active_runs == 2
