"""A job's results at this party: metrics (with chart series), models and one step's log. Never another party's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow, CallerClient
from airflow_provider_powerfl.plugins.flow_server.auth import User
from airflow_provider_powerfl.plugins.flow_server.curves import confusion_at, curves
from airflow_provider_powerfl.plugins.flow_server.party import this_party
from airflow_provider_powerfl.plugins.flow_server.runs import find_job, step_results, task_instances, task_log

router = APIRouter(prefix="/jobs/{job_id}")
METRICS_FILE = Path("report") / "metrics.json"


def _results(airflow: CallerClient, job_id: str) -> dict[str, dict[str, Any]]:
    run = find_job(airflow, job_id)
    return step_results(airflow, run, task_instances(airflow, run))


def _report(result: dict[str, Any]) -> dict[str, Any] | None:
    path = Path(result.get("output_dir") or "") / METRICS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@router.get("/metrics")
def metrics(job_id: str, _user: User, airflow: Airflow, threshold: float | None = None) -> dict[str, Any]:
    results = _results(airflow, job_id)
    reports = {task: (result, _report(result)) for task, result in results.items()}
    reports = {task: pair for task, pair in reports.items() if pair[1] is not None}
    chosen = next((t for t, (r, _) in reports.items() if r["step"] == "predict"), None) or next(
        (t for t, (r, _) in reports.items() if r["step"] == "train"), None
    )
    if chosen is None:
        raise HTTPException(404, f"job {job_id!r}: no evaluation report at this party (only the label holder has one)")
    result, report = reports[chosen]
    train = next((rep for r, rep in reports.values() if r["step"] == "train"), None)
    confusion = None
    if threshold is not None:
        confusion = confusion_at(Path(result["output_dir"]) / "predictions.csv", threshold)
    elif isinstance(report.get("confusion_matrix"), dict):
        matrix = report["confusion_matrix"]
        confusion = {"threshold": report.get("threshold"), **{k: matrix.get(k) for k in ("tp", "fp", "tn", "fn")},
                     **{k: report.get(k) for k in ("accuracy", "precision", "recall", "f1")}}  # fmt: skip
    return {
        "job_id": job_id,
        "party_id": this_party().party_id,
        "task_id": chosen,
        "task": report.get("task"),
        "metrics": report,
        "train_metrics": train if train is not report else None,
        "curves": curves(report),
        "confusion": confusion,
        "feature_importance": report.get("feature_importance"),
    }


@router.get("/models")
def models(job_id: str, _user: User, airflow: Airflow) -> dict[str, Any]:
    found = [
        {"task_id": task, "model_id": r["model"].get("model_id"), "version": r["model"].get("version"),
         "root": r["model"].get("root"), "algorithm": r["model"].get("algorithm")}
        for task, r in _results(airflow, job_id).items()
        if isinstance(r.get("model"), dict) and r["step"] == "train"
    ]  # fmt: skip
    return {"job_id": job_id, "party_id": this_party().party_id, "models": found}


@router.get("/logs")
def logs(
    job_id: str,
    _user: User,
    airflow: Airflow,
    step: Annotated[str, Query(min_length=1)],
    try_number: Annotated[int | None, Query(alias="try", ge=1)] = None,
) -> dict[str, Any]:
    run = find_job(airflow, job_id)
    ti = next((t for t in task_instances(airflow, run) if t["task_id"] == step), None)
    if ti is None:
        raise HTTPException(404, f"job {job_id!r} has no step {step!r} at this party")
    attempt = try_number or max(1, ti.get("try_number") or 1)
    return {
        "job_id": job_id,
        "party_id": this_party().party_id,
        "step": step,
        "try_number": attempt,
        "lines": task_log(airflow, run, step, attempt),
    }
