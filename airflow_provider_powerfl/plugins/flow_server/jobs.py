"""Job routes: submit (the seed's parameters), list with filters, and the detail of one job at every party."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.pipeline import STEP_COMPONENTS
from airflow_provider_powerfl.plugins.flow_server import store
from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow, CallerClient
from airflow_provider_powerfl.plugins.flow_server.auth import User, require_dag
from airflow_provider_powerfl.plugins.flow_server.documents import read_document
from airflow_provider_powerfl.plugins.flow_server.jobstatus import job_detail, pause_states
from airflow_provider_powerfl.plugins.flow_server.parameters import seed_job_conf
from airflow_provider_powerfl.plugins.flow_server.party import this_party
from airflow_provider_powerfl.plugins.flow_server.runs import parsed_pipelines, runs_task_instances, wait_parsed
from airflow_provider_powerfl.plugins.flow_server.views import summary

router = APIRouter()
STATES = ("queued", "running", "paused", "success", "failed")
MAX_LIMIT = 500


def new_job_id(pipeline_id: str) -> str:
    """``<pipeline>-<UTC time>-<4 hex>``: readable, sortable, unique enough to be the run id at every party."""
    short = pipeline_id.removeprefix("powerfl_pipeline_").removeprefix("powerfl_")[:60]
    return f"{short}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


@router.post("/pipelines/{pipeline_id}/jobs", status_code=201)
async def submit(pipeline_id: str, request: Request, user: User, airflow: Airflow, job_id: str | None = None) -> dict[str, Any]:
    params, name = await read_document(request, "parameters", "job_parameters.yaml")
    require_dag(user, pipeline_id, "POST", DagAccessEntity.RUN)
    pipeline = store.stored().get(pipeline_id)
    if pipeline is None:
        raise HTTPException(404, f"pipeline {pipeline_id!r}: not stored at this party (push it first)")
    job_id = job_id or new_job_id(pipeline_id)
    try:
        conf, ignored = seed_job_conf(params, pipeline, job_id)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    run = await run_in_threadpool(_trigger, airflow, pipeline_id, conf, job_id)
    return {"job_id": job_id, "pipeline_id": pipeline_id, "state": run["state"], "conf": conf, "ignored": ignored}


def _trigger(airflow: CallerClient, pipeline_id: str, conf: dict[str, Any], job_id: str) -> dict[str, Any]:
    wait_parsed(airflow, pipeline_id)
    return airflow.trigger(pipeline_id, conf, run_id=job_id, note="submitted through flow-server")


@router.get("/jobs")
def list_jobs(
    user: User,
    airflow: Airflow,
    state: Annotated[list[str] | None, Query()] = None,
    pipeline: str | None = None,
    party: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    for value in state or ():
        if value not in STATES:
            raise ConfigError(f"state: {value!r} is not one of {', '.join(STATES)}")
    if since is not None and since.tzinfo is None:
        raise ConfigError(f"since: {since.isoformat()} needs a time zone (e.g. Z)")
    parsed = parsed_pipelines(airflow)
    dag_ids = sorted(parsed & {pipeline} if pipeline else parsed)
    if not dag_ids:
        return {"jobs": [], "total": 0, "offset": offset, "limit": limit}
    me = this_party().party_id
    body: dict[str, Any] = {"dag_ids": dag_ids, "order_by": "-run_after"}
    if state:
        body["states"] = sorted({"running" if s == "paused" else s for s in state})
    if since is not None:
        body["start_date_gte"] = since.isoformat()
    local_filter = bool(party or role or "paused" in (state or ()))
    if not local_filter:
        body.update(page_offset=offset, page_limit=limit)
        page = airflow.send("POST", "/dags/~/dagRuns/list", json=body)
        runs, total = page["dag_runs"], page["total_entries"]
    else:  # filters Airflow cannot apply: every matching run, filtered here
        body["page_limit"] = 100_000
        runs = airflow.send("POST", "/dags/~/dagRuns/list", json=body)["dag_runs"]
    paused = pause_states(airflow, [r for r in runs if r["state"] == "running"][: offset + limit] if local_filter else runs)
    jobs = [summary(run, [], me, run["dag_run_id"] in paused) for run in runs]
    if local_filter:
        jobs = [j for j in jobs if _matches(j, state, party, role)]
        total, jobs = len(jobs), jobs[offset : offset + limit]
    tis = runs_task_instances(airflow, dag_ids, [j["job_id"] for j in jobs])
    runs_by_id = {r["dag_run_id"]: r for r in runs}
    jobs = [summary(runs_by_id[j["job_id"]], tis.get(j["job_id"], []), me, j["job_id"] in paused) for j in jobs]
    return {"jobs": jobs, "total": total, "offset": offset, "limit": limit}


def _matches(job: dict[str, Any], states: list[str] | None, party: str | None, role: str | None) -> bool:
    return (
        (not states or job["state"] in states)
        and (party is None or party in job["parties"])
        and (role is None or job["role"] == role)
    )


@router.get("/jobs/{job_id}")
def show_job(job_id: str, _user: User, airflow: Airflow) -> dict[str, Any]:
    return job_detail(airflow, job_id, step_tasks=_step_tasks)


def _step_tasks(pipeline_id: str) -> list[dict[str, Any]] | None:
    """The pipeline's tasks in file order (None when the pipeline is not stored here)."""
    pipeline = store.stored().get(pipeline_id)
    if pipeline is None:
        return None
    return [
        {"task_id": t.task_id, "component": t.component, "depends_on": sorted({*t.depends_on, *t.inputs_from}),
         "reports": t.component in STEP_COMPONENTS}
        for t in pipeline.tasks
    ]  # fmt: skip
