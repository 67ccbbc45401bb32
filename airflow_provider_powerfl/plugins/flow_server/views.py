"""A job as the API shows it: a DAG run of a pipeline, its parties from the conf, its steps from the task instances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import parse_party_roles

DONE = ("success", "skipped")  # finished and counted as progress


def parties_of(run: Mapping[str, Any]) -> dict[str, str]:
    """Party id -> role from the run's conf (empty when the conf has none)."""
    try:
        return parse_party_roles((run.get("conf") or {}).get("parties") or [])
    except ConfigError:
        return {}


def duration_s(run: Mapping[str, Any]) -> float | None:
    start, end = run.get("start_date"), run.get("end_date")
    if not start:
        return None
    stop = _date(end) if end else datetime.now(_date(start).tzinfo)
    return (stop - _date(start)).total_seconds()


def progress(tis: Sequence[Mapping[str, Any]]) -> float:
    """Tasks done (succeeded or skipped) / all tasks of the run at this party (0 before it has any): a failed run
    shows how far it got, not 100 %."""
    return sum(ti.get("state") in DONE for ti in tis) / len(tis) if tis else 0.0


def summary(run: Mapping[str, Any], tis: Sequence[Mapping[str, Any]], me: str, paused: bool = False) -> dict[str, Any]:
    """The job list's row: this party's run, every party shown with this party's run state."""
    parties = parties_of(run)
    state = "paused" if paused and run["state"] == "running" else run["state"]
    conf = run.get("conf") or {}
    return {
        "job_id": run["dag_run_id"],
        "pipeline_id": run["dag_id"],
        "state": state,
        "role": parties.get(me),
        "initiator": str(conf.get("initiator") or me),
        "parties": {pid: {"role": role, "state": state} for pid, role in parties.items()},
        "progress": progress(tis),
        "start_date": run.get("start_date"),
        "end_date": run.get("end_date"),
        "duration_s": duration_s(run),
    }


def local_steps(tis: Sequence[Mapping[str, Any]], progress_of: Any) -> dict[str, dict[str, Any]]:
    """This party's steps from its task instances; `progress_of(ti)` reads a running step's progress."""
    return {
        ti["task_id"]: {
            "state": ti.get("state"),
            "start_date": ti.get("start_date"),
            "end_date": ti.get("end_date"),
            "try_number": ti.get("try_number"),
            "progress": progress_of(ti) if ti.get("state") == "running" else None,
        }
        for ti in tis
    }


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
