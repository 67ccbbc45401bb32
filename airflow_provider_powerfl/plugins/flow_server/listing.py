"""The job list's reads from this Airflow's metadata DB, in the api-server's own process.

``GET /flow-server/jobs`` read its rows through this api-server's ``/api/v2`` (the pipeline DAGs, a page
of DAG runs, their task instances): three HTTP round trips into the same process, whose task instance
replies (~6 KB each with their rendered fields) made the list take 1-2 s at 1,000 jobs on a loaded
machine (docs/benchmarks/flow_server.md). The same reads as three queries; the user sees the same runs,
those of the DAGs Airflow's auth manager lets them read (as ``/api/v2``'s own run list does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_powerfl.plugins.flow_server.auth import readable_dags

PIPELINE_TAGS = ("powerfl", "pipeline")


def pipeline_dags(user: object) -> set[str]:
    """The DAGs tagged as PowerFL pipelines (stale ones too: their runs are jobs) that `user` may read."""
    from airflow.models.dag import DagTag
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    query = (
        select(DagTag.dag_id)
        .where(DagTag.name.in_(PIPELINE_TAGS))
        .group_by(DagTag.dag_id)
        .having(func.count(DagTag.name.distinct()) == len(PIPELINE_TAGS))
    )
    with create_session() as session:
        tagged = set(session.scalars(query))
    return tagged & readable_dags(user) if tagged else set()


def dag_runs(
    dag_ids: Iterable[str], states: Sequence[str] | None, since: datetime | None, offset: int = 0, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The runs of `dag_ids` (newest first, as ``/api/v2`` run dicts), a page of them if `limit`, and how many match."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    table = DagRun.__table__
    where = [table.c.dag_id.in_(sorted(dag_ids))]
    if states:
        where.append(table.c.state.in_(sorted(states)))
    if since is not None:
        where.append(table.c.start_date >= since)
    columns = (table.c.dag_id, table.c.run_id, table.c.state, table.c.conf, table.c.start_date, table.c.end_date)
    query = select(*columns).where(*where).order_by(table.c.run_after.desc(), table.c.id.desc())
    with create_session() as session:
        if limit is None:
            rows = session.execute(query).all()
            total = len(rows)
        else:
            total = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
            rows = session.execute(query.offset(offset).limit(limit)).all()
    return [_run(row) for row in rows], total


def task_states(runs: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Run id -> its task instances' ``task_id`` and ``state`` (what the list's progress reads), for `runs`."""
    if not runs:
        return {}
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    table = TaskInstance.__table__
    wanted = {(run["dag_id"], run["dag_run_id"]) for run in runs}
    query = select(table.c.dag_id, table.c.run_id, table.c.task_id, table.c.state).where(
        table.c.dag_id.in_({dag_id for dag_id, _ in wanted}), table.c.run_id.in_({run_id for _, run_id in wanted})
    )
    found: dict[str, list[dict[str, Any]]] = {run["dag_run_id"]: [] for run in runs}
    with create_session() as session:
        for dag_id, run_id, task_id, state in session.execute(query):
            if (dag_id, run_id) in wanted:
                found[run_id].append({"task_id": task_id, "state": state_text(state)})
    return found


def _run(row: Any) -> dict[str, Any]:
    dag_id, run_id, state, conf, start, end = row
    return {"dag_run_id": run_id, "dag_id": dag_id, "state": state_text(state), "conf": conf or {},
            "start_date": _iso(start), "end_date": _iso(end)}  # fmt: skip


def state_text(value: Any) -> str | None:
    """An Airflow state enum's text (its members hash by name, so ``in {"failed"}`` would miss them)."""
    return None if value is None else str(getattr(value, "value", value))


def _iso(value: datetime | None) -> str | None:
    """``/api/v2``'s form: ISO 8601 in UTC with a ``Z``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")
