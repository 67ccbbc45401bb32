"""Pipeline routes: push (validated, stored where the DAG factory reads), list, show, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.plugins.flow_server import store
from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow
from airflow_provider_powerfl.plugins.flow_server.auth import User, may, readable_dags, require_dag
from airflow_provider_powerfl.plugins.flow_server.documents import read_document
from airflow_provider_powerfl.plugins.flow_server.proposals import propose
from airflow_provider_powerfl.plugins.flow_server.runs import ACTIVE, parsed_pipelines

router = APIRouter(prefix="/pipelines")


def describe(pipeline: PipelineDef, parsed: bool) -> dict[str, Any]:
    return {
        "pipeline_id": pipeline.dag_id,
        "description": pipeline.description,
        "file": pipeline.source or None,
        "parsed": parsed,
        "parties": list(pipeline.parties),
        "tasks": [
            {"task_id": t.task_id, "component": t.component, "depends_on": sorted({*t.depends_on, *t.inputs_from})}
            for t in pipeline.tasks
        ],
    }


def stored_pipeline(pipeline_id: str, user: object) -> PipelineDef:
    require_dag(user, pipeline_id)
    pipeline = store.stored().get(pipeline_id)
    if pipeline is None:
        raise HTTPException(404, f"pipeline {pipeline_id!r}: not stored at this party")
    return pipeline


@router.post("", status_code=201)
async def push(
    request: Request, response: Response, user: User, airflow: Airflow, overwrite: bool = False, comment: str = ""
) -> dict[str, Any]:
    """Store a valid pipeline (201) and propose it to the parties it names (proposals.py); the same pipeline
    again is accepted unchanged (200), another of its id is 409."""
    data, name = await read_document(request, "file", "pipeline.yaml")
    pipeline = PipelineDef.from_dict(data, name)
    require_dag(user, pipeline.dag_id, "PUT")
    existing = store.stored().get(pipeline.dag_id)
    if existing is not None and store.definition(existing) == data:
        response.status_code = 200
        saved = existing
    elif existing is not None and not overwrite:
        raise HTTPException(409, f"pipeline {pipeline.dag_id!r} exists ({existing.source}); pass ?overwrite=true to replace it")
    else:
        saved = PipelineDef.from_yaml(store.save(pipeline, data, existing))
    try:
        proposal = await run_in_threadpool(propose, data, user, comment)  # delivers to the peers' brokers: off the event loop
    except PowerFLError as exc:  # stored all the same: proposing again (the same push) retries
        proposal = {"error": f"not proposed: {exc}"}
    parsed = await run_in_threadpool(parsed_pipelines, airflow)  # a call to this server: not on its event loop
    return {**describe(saved, pipeline.dag_id in parsed), "proposal": proposal}


@router.get("")
def list_pipelines(user: User, airflow: Airflow) -> dict[str, Any]:
    allowed, parsed = readable_dags(user), parsed_pipelines(airflow)
    items = [
        describe(p, p.dag_id in parsed)
        for p in store.stored().values()
        if p.dag_id in allowed or (p.dag_id not in parsed and may(user, p.dag_id))  # not a DAG yet: Airflow's rule for its id
    ]
    return {"pipelines": items, "total": len(items)}


@router.get("/{pipeline_id}")
def show(pipeline_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    pipeline = stored_pipeline(pipeline_id, user)
    return {**describe(pipeline, pipeline_id in parsed_pipelines(airflow)), "definition": store.definition(pipeline)}


@router.delete("/{pipeline_id}")
def delete(pipeline_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    pipeline = stored_pipeline(pipeline_id, user)
    require_dag(user, pipeline_id, "DELETE")
    if pipeline_id in parsed_pipelines(airflow):
        active = airflow.send("POST", "/dags/~/dagRuns/list", json={"dag_ids": [pipeline_id], "states": list(ACTIVE)})
        if active["total_entries"]:
            raise HTTPException(409, f"pipeline {pipeline_id!r}: {active['total_entries']} job(s) of it are queued or running")
    Path(pipeline.source).unlink()
    return {"pipeline_id": pipeline_id, "deleted": True}
