"""A rerun reaches every party: the peers' ``__rerun__`` events make this party's api-server clear its failed run.

``POST /jobs/{id}/rerun`` at one party clears that party's failed steps (and the steps after them) and posts a
signed ``__rerun__`` event (the run's nonce, this party's key) to every party's broker. Each party's
flow-server runs a RerunWatcher in its api-server (started with the app): it follows the event topics of this
party's failed runs of the last day and, when a party of the run reran it after this party's run last started a
step, clears the same steps here with Airflow's own clear (the api-server holds the database). From then on the
failures, job ends and pauses posted before the rerun are void at every party (``jobstate.current``), so the
rerun steps' guards and waits are not stopped by the end they rerun.

Safe to repeat: a run that is not failed, or that started a step after the rerun, is left alone. Only the
50 most recently ended failed runs are watched (each needs a reader of its topic): a peer's rerun of an older
failed run is not followed here (rerun it at this party too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.events import EVENT_MAX_AGE, EventReader
from airflow_provider_powerfl.orchestration.jobstate import RERUN_TASK
from airflow_provider_powerfl.plugins.flow_server.listing import state_text
from airflow_provider_powerfl.plugins.flow_server.party import party_and_registry
from airflow_provider_powerfl.plugins.flow_server.runs import run_nonces
from airflow_provider_powerfl.plugins.flow_server.views import parties_of

log = logging.getLogger(__name__)
WATCH_POLL = 3.0  # seconds between two looks at this party's failed runs
WATCHED_RUNS = 50  # the most recently ended failed runs watched (a reader each), so a crowd of old failures costs nothing


def tasks_to_clear(states: Mapping[str, str | None], run_failed: bool) -> list[str]:
    """The steps a rerun clears (with the steps after them): failed, upstream-failed, and skipped in a failed run (a stop's)."""
    bad = {"failed", "upstream_failed"} | ({"skipped"} if run_failed else set())
    return sorted(task for task, state in states.items() if state in bad)


def clear_body(job_id: str, task_ids: list[str]) -> dict[str, Any]:
    """``clearTaskInstances``' body: these steps of this run and every step after them; the run queued again."""
    return {"dry_run": False, "dag_run_id": job_id, "task_ids": task_ids, "reset_dag_runs": True, "only_failed": False,
            "include_downstream": True}  # fmt: skip


def failed_runs(me: str, max_age: float = EVENT_MAX_AGE, limit: int = WATCHED_RUNS) -> list[dict[str, Any]]:
    """This party's latest `limit` failed runs that ended in the last `max_age` seconds: ids, conf, nonce, last step start."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    cutoff = datetime.now(UTC) - timedelta(seconds=max_age)
    found = []
    with create_session() as session:
        query = select(DagRun).where(DagRun.state == "failed", DagRun.end_date >= cutoff)
        for run in session.scalars(query.order_by(DagRun.end_date.desc()).limit(limit)):
            conf = dict(run.conf or {})
            if me not in parties_of({"conf": conf}):
                continue
            started = session.scalar(
                select(func.max(TaskInstance.start_date)).where(
                    TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
                )
            )
            last = started or run.start_date
            found.append({"dag_id": run.dag_id, "job_id": run.run_id, "conf": conf,
                          "last_start": last.timestamp() if last else 0.0})  # fmt: skip
    nonces = run_nonces([{"dag_id": run["dag_id"], "dag_run_id": run["job_id"], "conf": run["conf"]} for run in found])
    return [{**run, "nonce": nonces.get(run["job_id"])} for run in found]


def clear_failed(dag_id: str, job_id: str) -> list[str]:
    """Clear the failed run's failed steps and the steps after them with Airflow's own clear; the steps cleared."""
    from airflow.api_fastapi.core_api.datamodels.task_instances import ClearTaskInstancesBody
    from airflow.api_fastapi.core_api.routes.public.task_instances import post_clear_task_instances
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == job_id))
        if run is None or state_text(run.state) != "failed":
            return []
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == job_id))
        task_ids = tasks_to_clear({ti.task_id: state_text(ti.state) for ti in tis}, True)
        if task_ids:
            body = ClearTaskInstancesBody(**clear_body(job_id, task_ids))
            post_clear_task_instances(dag_id, DBDagBag(), body, session, None)
    return task_ids


class RerunWatcher:
    """The api-server's thread that reruns this party's failed runs when a peer reran them (see the module's doc)."""

    def __init__(self, poll: float = WATCH_POLL) -> None:
        self._poll = poll
        self._stop = threading.Event()
        self._readers: dict[tuple[str, str], EventReader] = {}
        self._reruns: dict[tuple[str, str], float] = {}  # the newest peer's rerun seen per run
        self._thread = threading.Thread(target=self._run, name="powerfl-rerun-watcher", daemon=True)

    def start(self) -> RerunWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.scan()
            except Exception:  # the api-server's thread: log, never die
                log.exception("flow-server's rerun watcher could not look at this party's failed runs")
        for reader in self._readers.values():
            reader.close()

    def scan(self) -> list[str]:
        """One look: rerun the failed runs a peer reran since they last started a step; their job ids."""
        party, registry = party_and_registry()
        me = party.party_id
        runs = {(r["dag_id"], r["job_id"]): r for r in failed_runs(me) if r["nonce"]}
        for key in set(self._readers) - set(runs):
            self._readers.pop(key).close()
            self._reruns.pop(key, None)
        rerun = []
        for key, run in runs.items():
            newest = self._newest_rerun(key, run, registry, me)
            if newest is not None and newest > run["last_start"]:
                cleared = clear_failed(*key)
                if cleared:
                    log.info("job %r was rerun by a peer: cleared %s here", run["job_id"], ", ".join(cleared))
                    rerun.append(run["job_id"])
        return rerun

    def _newest_rerun(self, key: tuple[str, str], run: dict[str, Any], registry: Any, me: str) -> float | None:
        reader = self._readers.get(key)
        if reader is None:
            try:
                reader = self._readers[key] = EventReader(registry, me, run["job_id"], nonce=bytes.fromhex(run["nonce"]))
            except (PowerFLError, ValueError):
                log.exception("cannot read the events of job %r", run["job_id"])
                return None
        peers = set(parties_of(run)) - {me}
        for event in reader.poll(0.2):
            if event.task == RERUN_TASK and event.party_id in peers and event.timestamp > self._reruns.get(key, 0.0):
                self._reruns[key] = event.timestamp
        return self._reruns.get(key)
