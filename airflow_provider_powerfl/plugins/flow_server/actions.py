"""Acting on a job: stop, pause, resume, rerun, delete. Each is safe to repeat; stop, pause, resume and rerun reach every party.

The peers are told with signed events on their own brokers (the run's nonce, this party's key): ``__job__
failed`` for a stop (their guards end their steps and runs), ``__pause__ paused|resumed`` for a pause (their
step operators wait before starting a step while it is in force), ``__rerun__`` for a rerun (their
flow-servers clear their failed steps, see reruns.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from fastapi import APIRouter, HTTPException

from airflow_provider_powerfl.hooks.party import load_signing_key
from airflow_provider_powerfl.orchestration.jobstate import announce_job_failure, announce_pause, announce_rerun
from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow, CallerClient
from airflow_provider_powerfl.plugins.flow_server.auth import User, require_dag
from airflow_provider_powerfl.plugins.flow_server.jobstatus import known_events
from airflow_provider_powerfl.plugins.flow_server.party import party_and_registry
from airflow_provider_powerfl.plugins.flow_server.peers import paused
from airflow_provider_powerfl.plugins.flow_server.reruns import clear_body, tasks_to_clear
from airflow_provider_powerfl.plugins.flow_server.runs import ACTIVE, find_job, run_nonce, step_results, task_instances
from airflow_provider_powerfl.plugins.flow_server.views import parties_of

router = APIRouter(prefix="/jobs/{job_id}")


def _run_for_change(airflow: CallerClient, job_id: str, user: object) -> dict[str, Any]:
    run = find_job(airflow, job_id)
    require_dag(user, run["dag_id"], "PUT", DagAccessEntity.RUN)
    return run


def _reply(run: dict[str, Any], action: str, state: str, told: list[str], changed: bool) -> dict[str, Any]:
    return {"job_id": run["dag_run_id"], "action": action, "state": state, "peers_told": told, "changed": changed}


def _tell(run: dict[str, Any], airflow: CallerClient, everyone: bool, announce: Any, required: bool = True) -> list[str]:
    """Call `announce(registry, key, me, parties, nonce)` for the run's peers (and this party if `everyone`).

    Before the run has a nonce (its invite task has not run) no peer runs it yet: 409 if `required`, else none told.
    """
    nonce = run_nonce(airflow, run)
    if nonce is None:
        if not required:
            return []
        raise HTTPException(409, f"job {run['dag_run_id']!r} has not invited its peers yet; try again in a few seconds")
    party, registry = party_and_registry()
    parties = [p for p in parties_of(run) if everyone or p != party.party_id]
    return announce(registry, load_signing_key(party), party.party_id, parties, bytes.fromhex(nonce))


@router.post("/stop")
def stop(job_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    run = _run_for_change(airflow, job_id, user)
    if run["state"] not in ACTIVE:
        return _reply(run, "stop", run["state"], [], False)
    reason = f"stopped by a user at party {party_and_registry()[0].party_id}"

    def announce(registry: Any, key: Any, me: str, parties: list[str], nonce: bytes) -> list[str]:
        # this party's own topic too: its killed step's guard then knows the job ended here and posts no second end
        announce_job_failure(registry, key, job_id, me, parties, reason, nonce=nonce)
        return [p for p in parties if p != me]

    told = _tell(run, airflow, True, announce, required=False)  # before the kill, whose guard looks for it
    stopped = airflow.stop(run["dag_id"], job_id)
    return _reply(run, "stop", stopped["state"], told, True)


def _pause_or_resume(job_id: str, user: object, airflow: CallerClient, status: str) -> dict[str, Any]:
    run = _run_for_change(airflow, job_id, user)
    action = "pause" if status == "paused" else "resume"
    if run["state"] not in ACTIVE:
        raise HTTPException(409, f"job {job_id!r} is {run['state']}: only a queued or running job can {action}")
    was_paused = paused(known_events(airflow, run)) is not None
    if was_paused == (status == "paused"):
        return _reply(run, action, status if status == "paused" else "running", [], False)
    reason = f"{status} by a user at party {party_and_registry()[0].party_id}"

    def announce(registry: Any, key: Any, me: str, parties: list[str], nonce: bytes) -> list[str]:
        told = announce_pause(registry, key, job_id, me, parties, status, reason, nonce=nonce)
        return [p for p in told if p != me]

    told = _tell(run, airflow, True, announce)
    return _reply(run, action, "paused" if status == "paused" else "running", told, True)


@router.post("/pause")
def pause(job_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    return _pause_or_resume(job_id, user, airflow, "paused")


@router.post("/resume")
def resume(job_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    return _pause_or_resume(job_id, user, airflow, "resumed")


@router.post("/rerun")
def rerun(job_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    """Clear this party's failed steps and the steps after them, and tell every party (their flow-servers clear theirs)."""
    run = _run_for_change(airflow, job_id, user)
    if run["state"] in ACTIVE:
        raise HTTPException(409, f"job {job_id!r} is {run['state']}: rerun a finished job")
    states = {ti["task_id"]: ti.get("state") for ti in task_instances(airflow, run)}
    steps = tasks_to_clear(states, run["state"] == "failed")
    if not steps:
        return _reply(run, "rerun", run["state"], [], False)
    reason = f"rerun by a user at party {party_and_registry()[0].party_id} (from {', '.join(steps)})"

    def announce(registry: Any, key: Any, me: str, parties: list[str], nonce: bytes) -> list[str]:
        # this party's own topic first too: its rerun steps find the rerun there and ignore the job end before it
        told = announce_rerun(registry, key, job_id, me, parties, reason, nonce=nonce)
        return [p for p in told if p != me]

    told = _tell(run, airflow, True, announce, required=False)
    airflow.send("POST", f"/dags/{run['dag_id']}/clearTaskInstances", json=clear_body(job_id, steps))
    return _reply(run, "rerun", "queued", told, True)


@router.delete("")
def delete(job_id: str, user: User, airflow: Airflow) -> dict[str, Any]:
    """This party's run and its outputs (``<work_dir>/<job id>/<party id>/``); 409 while it is queued or running."""
    run = find_job(airflow, job_id)
    require_dag(user, run["dag_id"], "DELETE", DagAccessEntity.RUN)
    if run["state"] in ACTIVE:
        raise HTTPException(409, f"job {job_id!r} is {run['state']}: stop it first")
    me = party_and_registry()[0].party_id
    roots = set()
    for result in step_results(airflow, run, task_instances(airflow, run)).values():
        out = Path(result.get("output_dir") or "")
        if out.parent.name == me and out.parent.parent.name == job_id:
            roots.add(out.parent)
    airflow.send("DELETE", f"/dags/{run['dag_id']}/dagRuns/{job_id}")
    removed = []
    for root in sorted(roots):
        shutil.rmtree(root, ignore_errors=True)
        removed.append(str(root))
    return {"job_id": job_id, "deleted": True, "outputs_removed": removed}
