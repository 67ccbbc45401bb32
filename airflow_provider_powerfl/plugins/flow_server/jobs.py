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
from airflow_provider_powerfl.plugins.flow_server import listing, store
from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow, CallerClient
from airflow_provider_powerfl.plugins.flow_server.auth import User, require_dag
from airflow_provider_powerfl.plugins.flow_server.documents import read_document
from airflow_provider_powerfl.plugins.flow_server.jobstatus import job_detail
from airflow_provider_powerfl.plugins.flow_server.parameters import seed_job_conf
from airflow_provider_powerfl.plugins.flow_server.party import party_and_registry
from airflow_provider_powerfl.plugins.flow_server.pauses import paused_jobs
from airflow_provider_powerfl.plugins.flow_server.runs import wait_parsed
from airflow_provider_powerfl.plugins.flow_server.views import parties_of, summary

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
    state: Annotated[list[str] | None, Query()] = None,
    pipeline: str | None = None,
    party: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """The jobs newest first, from this Airflow's DB (listing.py); `party`, `role` and `paused` filter every run."""
    for value in state or ():
        if value not in STATES:
            raise ConfigError(f"state: {value!r} is not one of {', '.join(STATES)}")
    if since is not None and since.tzinfo is None:
        raise ConfigError(f"since: {since.isoformat()} needs a time zone (e.g. Z)")
    parsed = listing.pipeline_dags(user)
    dag_ids = sorted(parsed & {pipeline} if pipeline else parsed)
    if not dag_ids:
        return {"jobs": [], "total": 0, "offset": offset, "limit": limit}
    party_conn, registry = party_and_registry()
    me = party_conn.party_id
    states = sorted({"running" if s == "paused" else s for s in state}) if state else None
    if not (party or role or {"paused", "running"} & set(state or ())):
        runs, total = listing.dag_runs(dag_ids, states, since, offset, limit)
        paused = paused_jobs(runs, registry, me)
    else:  # filters on the conf's parties, and paused (a running run with a pause in force): over every run
        runs = [run for run in listing.dag_runs(dag_ids, states, since)[0] if _takes_part(run, me, party, role)]
        paused = paused_jobs(runs if state else runs[offset : offset + limit], registry, me)
        if state:
            runs = [run for run in runs if ("paused" if run["dag_run_id"] in paused else run["state"]) in state]
        total, runs = len(runs), runs[offset : offset + limit]
    tis = listing.task_states(runs)
    jobs = [summary(run, tis.get(run["dag_run_id"], []), me, run["dag_run_id"] in paused) for run in runs]
    return {"jobs": jobs, "total": total, "offset": offset, "limit": limit}


def _takes_part(run: dict[str, Any], me: str, party: str | None, role: str | None) -> bool:
    """Whether `party` is one of the run's parties and this party has `role` in it (each when given)."""
    parties = parties_of(run)
    return (party is None or party in parties) and (role is None or parties.get(me) == role)


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
