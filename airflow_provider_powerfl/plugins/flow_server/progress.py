"""Running training steps' progress as the API shows it: the steps' signed reports on this party's broker.

A training step posts its reports to its own party's broker (with the loss) and to each peer's (without it);
federation.progress reads the newest of each party's step. A report shows on a step while it runs, for the
try that sent it; its ETA counts down from when it was sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kafka.errors import KafkaError

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.progress import ProgressReport, read_progress
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.plugins.flow_server.peers import iso

log = logging.getLogger(__name__)

Reports = Mapping[tuple[str, str], ProgressReport]


def running_reports(registry: PartyRegistry, me: str, job_id: str, nonce: str | None) -> Reports:
    """The newest report per (party, task) of the run (none without a nonce, or when the broker does not answer)."""
    if nonce is None:
        return {}
    try:
        return read_progress(registry, me, job_id, bytes.fromhex(nonce))
    except (KafkaError, PowerFLError, OSError) as exc:  # progress is an extra: the job's state still shows without it
        log.warning("party %s could not read the progress of job %s: %s", me, job_id, exc)
        return {}


def progress_view(report: ProgressReport | None, attempt: int | None, now: float | None = None) -> dict[str, Any] | None:
    """The API's ``progress`` of a running step from its newest report, if that report is of try `attempt`."""
    if report is None or (attempt is not None and report.attempt != attempt):
        return None
    now = time.time() if now is None else now
    eta = None if report.eta_s is None else round(max(0.0, report.eta_s - max(0.0, now - report.timestamp)), 1)
    return {
        "unit": report.unit,
        "done": report.done,
        "of": report.of,
        "step": report.step,
        "steps": report.steps,
        "fraction": _fraction(report),
        "loss": report.loss,
        "eta_s": eta,
        "elapsed_s": report.elapsed_s,
        "updated_at": iso(report.timestamp),
    }


def _fraction(report: ProgressReport) -> float | None:
    if not report.of:
        return None
    part = report.step / report.steps if report.steps else 0.0
    return min(1.0, (report.done + part) / report.of)


def add_progress(parties: dict[str, Any], reports: Reports) -> None:
    """Set ``progress`` on every running step of every party in `parties` (the detail's) that has a report."""
    for party_id, party in parties.items():
        for task, step in party["steps"].items():
            if step.get("state") == "running":
                step["progress"] = progress_view(reports.get((party_id, task)), step.get("try_number"))
