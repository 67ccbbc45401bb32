"""DAG factory: pipeline definitions -> Airflow DAGs, plus each party's listener DAG."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.jobs.pipeline import INVITE_TASK, PipelineDef, TaskDef
from airflow_provider_powerfl.operators.enclave import FederatedEnclaveOperator
from airflow_provider_powerfl.operators.federated import (
    FederatedAlignOperator,
    FederatedFeatureEngineeringOperator,
    FederatedPredictOperator,
    FederatedTrainOperator,
)
from airflow_provider_powerfl.operators.invite import InviteOperator
from airflow_provider_powerfl.operators.listener import InvitationListenerOperator, InvitedRunOperator
from airflow_provider_powerfl.operators.step import FederatedStepOperator
from airflow_provider_powerfl.operators.summary import JobSummaryOperator
from airflow_provider_powerfl.orchestration.agreement import pipeline_version
from airflow_provider_powerfl.orchestration.jobcontext import end_job_on_failure
from airflow_provider_powerfl.orchestration.listener import LISTENER_DAG_ID
from airflow_provider_powerfl.orchestration.params import job_params
from airflow_provider_powerfl.sensors.peer import JobPeerSensor

_STEP_CLASSES: dict[str, type[FederatedStepOperator]] = {
    "align": FederatedAlignOperator,
    "train": FederatedTrainOperator,
    "predict": FederatedPredictOperator,
    "feature_engineering": FederatedFeatureEngineeringOperator,
    "step": FederatedStepOperator,
    "enclave": FederatedEnclaveOperator,
}


def build_operator(task: TaskDef) -> BaseOperator:
    """One pipeline task as an operator; every step runs under a job guard, every task ends the job everywhere when it fails for good."""
    common: dict[str, Any] = {"task_id": task.task_id, "retries": task.retries, "on_failure_callback": end_job_on_failure}
    if task.timeout is not None:
        common["execution_timeout"] = timedelta(seconds=task.timeout)
    if task.retry_delay is not None:
        common["retry_delay"] = timedelta(seconds=task.retry_delay)
    params = dict(task.parameters)
    if task.component in _STEP_CLASSES:
        kwargs: dict[str, Any] = {
            "inputs_from": list(task.inputs_from),
            "step_params": params,
            "spark": dict(task.spark) or None,
            "job_guard": True,
        }
        if task.component == "train":
            kwargs["algorithm"] = params.pop("algorithm", "hetero_lr")
            kwargs["step_params"] = params
        if task.component == "step":
            kwargs["step"] = task.step
        return _STEP_CLASSES[task.component](**common, **kwargs)
    if task.component == "wait_peers":
        return JobPeerSensor(
            **common,
            peer_task=params.pop("peer_task", task.task_id),
            status=params.pop("status", "success"),
            deferrable=params.pop("deferrable", True),
            timeout=params.pop("timeout", 3600),
            poll_interval=params.pop("poll_interval", 1.0),
        )
    return JobSummaryOperator(**common, **params)  # summary


def build_pipeline_dag(pipeline: PipelineDef) -> DAG:
    """The DAG of one pipeline: ``invite`` first, then the pipeline's tasks in dependency order."""
    with DAG(
        dag_id=pipeline.dag_id,
        schedule=None,
        description=pipeline.description or None,
        doc_md=f"PowerFL pipeline from `{pipeline.source}`.\n\n{pipeline.description}",
        tags=["powerfl", "pipeline", *pipeline.tags],
        params=job_params(list(pipeline.parties)),
        max_active_runs=pipeline.max_active_jobs,
        is_paused_upon_creation=False,
    ) as dag:
        invite = InviteOperator(
            task_id=INVITE_TASK,
            accept_timeout=pipeline.accept_timeout,
            pipeline_version=pipeline_version(load_config_file(Path(pipeline.source), "pipeline")) if pipeline.source else None,
            on_failure_callback=end_job_on_failure,
        )
        operators = {task.task_id: build_operator(task) for task in pipeline.tasks}
        for task in pipeline.tasks:
            upstream = sorted(set(task.depends_on) | set(task.inputs_from))
            if upstream:
                for dep in upstream:
                    operators[dep] >> operators[task.task_id]
            else:
                invite >> operators[task.task_id]
    return dag


def build_listener_dag(pipelines: Sequence[PipelineDef], listen_for: float = 300.0) -> DAG:
    """This party's listener: a run every minute (one at a time) waits up to `listen_for` seconds for invitations.

    ``listen`` ends with the accepted ones; ``start`` starts each one's run (TriggerDagRunOperator, mapped).

    Who may start jobs here is the party's privacy policy's ``allowed_parties`` (its ``powerfl`` connection).

    Not ``@continuous``: one failed continuous run stopped all later ones; a
    failed cron run is simply followed by the next (see orchestration.listener).
    """
    with DAG(
        dag_id=LISTENER_DAG_ID,
        schedule="* * * * *",
        max_active_runs=1,
        catchup=False,
        dagrun_timeout=timedelta(seconds=listen_for + 300),
        tags=["powerfl", "listener"],
        doc_md=__doc__,
        is_paused_upon_creation=False,
    ) as dag:
        listen = InvitationListenerOperator(
            task_id="listen",
            retries=1,
            retry_delay=timedelta(seconds=5),
            pipelines=[p.dag_id for p in pipelines],
            listen_for=listen_for,
        )
        # a start refused by an api-server too busy to answer in time (ReadTimeout at 10 concurrent jobs, powerfl bench
        # load) is tried again instead of refusing the job; a run the first try did create counts as started
        InvitedRunOperator.partial(task_id="start", retries=3, retry_delay=timedelta(seconds=10)).expand(invitation=listen.output)
    return dag
