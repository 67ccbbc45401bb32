"""Looking up a job's DAG run, task instances, nonce and step results through ``/api/v2`` (as the caller)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException

from airflow_provider_powerfl.jobs.pipeline import INVITE_TASK
from airflow_provider_powerfl.orchestration.nonce import NONCE_XCOM
from airflow_provider_powerfl.orchestration.rest import AirflowApiError
from airflow_provider_powerfl.plugins.flow_server.airflow_api import CallerClient

ACTIVE = ("queued", "running")


def parsed_pipelines(airflow: CallerClient) -> set[str]:
    """The pipeline DAGs Airflow has parsed and lets the caller read.

    Stale ones too: a DAG is marked stale while a slow parse of its file overruns ``stale_dag_threshold``
    (and after its YAML is deleted), and its runs are jobs all the same.
    """
    dags = airflow.get("/dags", tags=["powerfl", "pipeline"], tags_match_mode="all", exclude_stale="false", limit=1000)["dags"]
    return {dag["dag_id"] for dag in dags}


def find_job(airflow: CallerClient, job_id: str) -> dict[str, Any]:
    """The DAG run of `job_id` among the pipeline DAGs the caller may read; 404 if none."""
    for dag_id in sorted(parsed_pipelines(airflow)):
        run = airflow.find_run(dag_id, job_id)
        if run is not None:
            return run
    raise HTTPException(404, f"job {job_id!r}: no run of a PowerFL pipeline with this id at this party")


def task_instances(airflow: CallerClient, run: dict[str, Any]) -> list[dict[str, Any]]:
    return airflow.task_instances(run["dag_id"], run["dag_run_id"])


def run_nonce(airflow: CallerClient, run: dict[str, Any]) -> str | None:
    """The run's nonce: its conf's (an invited run's), else the one its invite task drew (None before)."""
    nonce = (run.get("conf") or {}).get("nonce")
    if nonce:
        return str(nonce)
    try:
        return airflow.xcom(run["dag_id"], run["dag_run_id"], INVITE_TASK, NONCE_XCOM) or None
    except AirflowApiError as exc:
        if exc.status == 404:
            return None
        raise


def run_nonces(runs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Run id -> the run's nonce: its conf's (an invited run's), else the one its invite task drew (one query for all)."""
    found = {run["dag_run_id"]: str(run["conf"]["nonce"]) for run in runs if (run.get("conf") or {}).get("nonce")}
    missing = [run for run in runs if run["dag_run_id"] not in found]
    if not missing:
        return found
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted = {(run["dag_id"], run["dag_run_id"]) for run in missing}
    query = select(XComModel).where(
        XComModel.key == NONCE_XCOM,
        XComModel.task_id == INVITE_TASK,
        XComModel.dag_id.in_({dag_id for dag_id, _ in wanted}),
        XComModel.run_id.in_({run_id for _, run_id in wanted}),
    )
    with create_session() as session:
        for row in session.scalars(query):
            value = XComModel.deserialize_value(row)
            if (row.dag_id, row.run_id) in wanted and value:
                found[row.run_id] = str(value)
    return found


def step_results(airflow: CallerClient, run: dict[str, Any], tis: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The XCom results of the run's finished step tasks, by task id (a step's result names its ``step``)."""
    results = {}
    for ti in tis:
        if ti.get("state") != "success":
            continue
        try:
            value = airflow.xcom(run["dag_id"], run["dag_run_id"], ti["task_id"])
        except AirflowApiError as exc:
            if exc.status == 404:
                continue
            raise
        if isinstance(value, dict) and value.get("step"):
            results[ti["task_id"]] = value
    return results


def wait_parsed(airflow: CallerClient, dag_id: str, timeout: float = 120.0) -> None:
    """Until the dag-processor has parsed a just-pushed pipeline; 409 after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while dag_id not in parsed_pipelines(airflow):
        if time.monotonic() > deadline:
            raise HTTPException(409, f"pipeline {dag_id!r}: not parsed by the dag-processor after {timeout:g}s")
        time.sleep(2.0)


def task_log(airflow: CallerClient, run: dict[str, Any], task_id: str, try_number: int) -> list[dict[str, Any]]:
    """One try's log lines, as Airflow serves them: ``{"timestamp", "level", "event"}`` each."""
    path = f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}/logs/{try_number}"
    body = airflow.get(path, full_content="true")
    lines = []
    for entry in body.get("content") or []:
        if isinstance(entry, dict):
            lines.append({"timestamp": entry.get("timestamp"), "level": entry.get("level"), "event": _event(entry)})
        else:
            lines.append({"timestamp": None, "level": None, "event": str(entry)})
    return lines


def _event(entry: dict[str, Any]) -> str:
    """A log line's text; Airflow's "Task failed with exception" line with the exception's own message, which it
    keeps apart (``error_detail``), so the job's error says why and not only that it failed."""
    event = str(entry.get("event", ""))
    details = [d for d in entry.get("error_detail") or () if isinstance(d, dict) and d.get("exc_value")]
    raised = next((d for d in details if not d.get("is_cause")), details[-1] if details else None)
    return f"{event}: {raised.get('exc_type', 'error')}: {raised['exc_value']}" if raised else event


def last_error_line(airflow: CallerClient, run: dict[str, Any], task_id: str, try_number: int) -> str | None:
    """The last error-level line of a try's log (why it failed), if any."""
    try:
        lines = task_log(airflow, run, task_id, try_number)
    except AirflowApiError:
        return None
    errors = [line["event"] for line in lines if (line["level"] or "").lower() in ("error", "critical")]
    return errors[-1] if errors else None
