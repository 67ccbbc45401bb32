"""Record planned jobs (DAG runs of pipeline DAGs) straight into one party's Airflow metadata DB.

Run by bench.flow_server_jobs as ``python -m bench.flow_seed PLAN.json`` in that party's Airflow environment
(its AIRFLOW_HOME, so its SQLite DB). Each planned job becomes a manual DAG run made by Airflow's own
``create_dagrun`` (task instances of every task of the DAG), with its state, dates and conf, its task
instances' states (``done`` finished steps, then the failed or running one), and for an initiator's running
run the nonce its invite task would have drawn (an XCom), so flow-server reads its events as for a real run.

Plan: ``{"jobs": [{"run_id", "dag_id", "state", "conf", "run_after", "start", "end", "done": float 0..1,
"xcom_nonce": str | null}]}`` (dates ISO). Prints one JSON line: runs and task instances recorded.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

TI_AFTER = {"success": ("success", "success"), "failed": ("failed", "upstream_failed"), "running": ("running", None)}


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def ti_states(state: str, tasks: list[str], done: float) -> dict[str, str | None]:
    """Task id -> state: the first ``done`` share finished, then the failed/running step, the rest after it."""
    if state == "queued":
        return dict.fromkeys(tasks)
    if state == "success":
        return dict.fromkeys(tasks, "success")
    k = min(int(done * len(tasks)), len(tasks) - 1)
    at, after = TI_AFTER[state]
    return {task: "success" if i < k else at if i == k else after for i, task in enumerate(tasks)}


def _order(dag: Any, task_ids: list[str]) -> list[str]:
    """The run's task ids in the DAG's topological order (task groups flattened)."""
    found: list[str] = []

    def walk(group: Any) -> None:
        for node in group.topological_sort():
            if hasattr(node, "task_id"):
                found.append(node.task_id)
            else:
                walk(node)

    walk(dag.task_group)
    return [t for t in found if t in task_ids] + sorted(set(task_ids) - set(found))


def _record_one(dag: Any, job: dict[str, Any], session: Any) -> int:
    """One planned job as a DAG run with its task instances (and nonce XCom); the task instances made."""
    from airflow.models.xcom import XComModel
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from airflow_provider_powerfl.jobs.pipeline import INVITE_TASK
    from airflow_provider_powerfl.orchestration.nonce import NONCE_XCOM

    run = dag.create_dagrun(
        run_id=job["run_id"], run_after=_date(job["run_after"]), conf=job["conf"], run_type=DagRunType.MANUAL,
        triggered_by=DagRunTriggeredByType.REST_API, state=DagRunState(job["state"]), start_date=_date(job["start"]),
        note="powerfl bench flow-server-jobs", session=session,
    )  # fmt: skip
    run.end_date = _date(job["end"])
    instances = run.get_task_instances(session=session)
    states = ti_states(job["state"], _order(dag, [ti.task_id for ti in instances]), job["done"])
    for ti in instances:
        ti.state = states.get(ti.task_id)
        if ti.state is not None:
            ti.start_date, ti.end_date = run.start_date, run.end_date if ti.state != "running" else None
            ti.try_number = 1
    if job.get("xcom_nonce"):
        XComModel.set(NONCE_XCOM, job["xcom_nonce"], dag_id=job["dag_id"], task_id=INVITE_TASK, run_id=job["run_id"],
                      session=session)  # fmt: skip
    return len(instances)


def record(plan: dict[str, Any]) -> dict[str, int]:
    """Each DAG's first job by ``create_dagrun``; the others as copies of its rows, inserted in bulk (seconds, not minutes)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import insert, select

    templates: dict[str, tuple[Any, dict[str, Any], list[dict[str, Any]]]] = {}
    runs: list[dict[str, Any]] = []
    tis: list[dict[str, Any]] = []
    with create_session() as session:
        for job in plan["jobs"]:
            if job["dag_id"] not in templates:
                dag = SerializedDagModel.get_dag(job["dag_id"], session=session)
                _record_one(dag, job, session)
                session.flush()
                run_table, ti_table = DagRun.__table__, TaskInstance.__table__
                where = (run_table.c.dag_id == job["dag_id"], run_table.c.run_id == job["run_id"])
                run_row = dict(session.execute(select(run_table).where(*where)).mappings().one())
                ti_where = (ti_table.c.dag_id == job["dag_id"], ti_table.c.run_id == job["run_id"])
                ti_rows = [dict(row) for row in session.execute(select(ti_table).where(*ti_where)).mappings()]
                templates[job["dag_id"]] = (dag, run_row, ti_rows)
                continue
            dag, run_row, ti_rows = templates[job["dag_id"]]
            run, instances = _copy(dag, run_row, ti_rows, job)
            runs.append(run)
            tis += instances
        if runs:
            session.execute(insert(DagRun.__table__), runs)
            session.execute(insert(TaskInstance.__table__), tis)
        _nonces(session, [job for job in plan["jobs"] if job.get("xcom_nonce") and job["run_id"] in {r["run_id"] for r in runs}])
    return {"runs": len(runs) + len(templates), "task_instances": len(tis) + sum(len(t[2]) for t in templates.values())}


def _copy(dag: Any, run_row: dict[str, Any], ti_rows: list[dict[str, Any]], job: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The template run's rows for `job`: its run id, state, dates and conf; its task instances' states."""
    from airflow.models.taskinstance import uuid7

    start, end = _date(job["start"]), _date(job["end"])
    run = {k: v for k, v in run_row.items() if k != "id"}
    run.update(run_id=job["run_id"], state=job["state"], conf=job["conf"], run_after=_date(job["run_after"]),
               queued_at=_date(job["run_after"]), start_date=start, end_date=end)  # fmt: skip
    states = ti_states(job["state"], _order(dag, [row["task_id"] for row in ti_rows]), job["done"])
    instances = []
    for row in ti_rows:
        state = states.get(row["task_id"])
        instances.append({**row, "id": uuid7(), "run_id": job["run_id"], "state": state, "try_number": 1 if state else 0,
                          "start_date": start if state else None, "end_date": end if state and state != "running" else None,
                          "queued_dttm": None, "scheduled_dttm": None})  # fmt: skip
    return run, instances


def _nonces(session: Any, jobs: list[dict[str, Any]]) -> None:
    from airflow.models.xcom import XComModel

    from airflow_provider_powerfl.jobs.pipeline import INVITE_TASK
    from airflow_provider_powerfl.orchestration.nonce import NONCE_XCOM

    for job in jobs:
        XComModel.set(NONCE_XCOM, job["xcom_nonce"], dag_id=job["dag_id"], task_id=INVITE_TASK, run_id=job["run_id"],
                      session=session)  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(record(json.loads(Path(sys.argv[1]).read_text()))))
