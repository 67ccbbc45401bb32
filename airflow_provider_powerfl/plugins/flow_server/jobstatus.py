"""One job as every party sees it: this party's run from Airflow, the peers' from their signed events on this party's broker.

While that broker is down (stopped, its disk full) the view still answers at once with this party's own run,
steps and error from Airflow, the peers' states ``unknown`` and ``peers_unknown`` saying why (issue 22).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka.errors import KafkaError

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.kafka_transport import broker_unreachable
from airflow_provider_powerfl.plugins.flow_server.airflow_api import CallerClient
from airflow_provider_powerfl.plugins.flow_server.party import party_and_registry
from airflow_provider_powerfl.plugins.flow_server.peers import Known, paused, peer_view, run_events
from airflow_provider_powerfl.plugins.flow_server.progress import add_progress, running_reports
from airflow_provider_powerfl.plugins.flow_server.runs import find_job, last_error_line, run_nonce, task_instances
from airflow_provider_powerfl.plugins.flow_server.views import local_steps, parties_of, summary

log = logging.getLogger(__name__)

StepTasks = Callable[[str], list[dict[str, Any]] | None]


def known_events(airflow: CallerClient, run: Mapping[str, Any], nonce: str | None = None) -> Known:
    """The latest event per (party, task) of `run` on this party's broker (none before the run has a nonce)."""
    nonce = nonce or run_nonce(airflow, dict(run))
    if nonce is None:
        return {}
    party, registry = party_and_registry()
    return run_events(party, registry, run["dag_run_id"], nonce)


def local_error(airflow: CallerClient, run: Mapping[str, Any], tis: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """This party's last failed step and why (the last error line of its log)."""
    failed = [ti for ti in tis if ti.get("state") == "failed"]
    if not failed:
        return None
    ti = max(failed, key=lambda t: t.get("end_date") or "")
    reason = last_error_line(airflow, run, ti["task_id"], ti.get("try_number") or 1) or "failed"
    return {"reason": reason, "step": ti["task_id"], "at": ti.get("end_date")}


def job_detail(airflow: CallerClient, job_id: str, step_tasks: StepTasks) -> dict[str, Any]:
    """``GET /jobs/{id}``: the job summary, its steps, and every party's state, steps and last error."""
    run = find_job(airflow, job_id)
    tis = task_instances(airflow, run)
    nonce = run_nonce(airflow, dict(run))
    party, registry = party_and_registry()
    me = party.party_id
    known, unknown = _peer_news(airflow, run, nonce, registry.get(me).kafka_config()["bootstrap_servers"])
    is_paused = paused(known) is not None
    steps = step_tasks(run["dag_id"]) or [{"task_id": ti["task_id"], "component": None, "depends_on": []} for ti in tis]
    reporting = [s["task_id"] for s in steps if s.get("reports", True)]
    view = summary(run, tis, me, is_paused)
    parties: dict[str, Any] = {}
    for party_id, role in parties_of(run).items():
        if party_id == me:
            parties[party_id] = {
                "role": role,
                "state": view["state"],
                "local": True,
                "steps": local_steps(tis, lambda _ti: None),
                "error": local_error(airflow, run, tis),
            }
        elif unknown is None:
            parties[party_id] = peer_view(known, party_id, role, reporting)
        else:
            parties[party_id] = {**peer_view({}, party_id, role, reporting), "state": "unknown"}
    running = any(step["state"] == "running" for party in parties.values() for step in party["steps"].values())
    if running and unknown is None:
        add_progress(parties, running_reports(registry, me, run["dag_run_id"], nonce))
    return {
        **view,
        "party_id": me,
        "steps": [{k: s[k] for k in ("task_id", "component", "depends_on")} for s in steps],
        "parties": parties,
        "peers_unknown": unknown,
    }


def _peer_news(
    airflow: CallerClient, run: Mapping[str, Any], nonce: str | None, servers: Sequence[str]
) -> tuple[Known, str | None]:
    """The run's events on this party's broker, or none and why they cannot be read: a probe first, since a Kafka
    client waits out its request timeouts (minutes) on a broker that is down."""
    why = broker_unreachable(servers)
    if why is None:
        try:
            return known_events(airflow, run, nonce), None
        except (FederationError, KafkaError) as exc:
            why = str(exc)
    why = f"the peers' events on this party's broker cannot be read: {why}"
    log.warning("job %s: %s", run["dag_run_id"], why)
    return {}, why
