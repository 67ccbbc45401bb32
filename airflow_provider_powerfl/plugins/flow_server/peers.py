"""What this party knows of the other parties of a run: the signed events they posted to its own broker.

Each party's steps post ``running`` / ``success`` / ``failed`` per task, ``__job__ failed`` when the job
ended there, and users' pauses (``__pause__``) go to every party; this party's own topic holds them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_powerfl.federation.events import EventReader, StatusEvent, latest
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, PAUSE_TASK, current, job_pause

Known = Mapping[tuple[str, str], StatusEvent]


def run_events(party: PartyConnection, registry: PartyRegistry, job_id: str, nonce: str, timeout: float = 10.0) -> Known:
    """The latest event per (party, task) of this run on this party's own topic; per party its first job end."""
    with EventReader(registry, party.party_id, job_id, nonce=bytes.fromhex(nonce)) as reader:
        return known_of(reader.read_all(timeout))


def known_of(events: Iterable[StatusEvent]) -> Known:
    """The latest event per (party, task) and per party its first job end, of what a rerun did not void."""
    events = current(events)  # a rerun voids the failures and job ends before it
    return {**latest(events), **first_job_ends(events)}


def first_job_ends(events: Iterable[StatusEvent]) -> dict[tuple[str, str], StatusEvent]:
    """Per party, its first ``__job__ failed``: why the job ended there (a step that end killed posts its own after)."""
    out: dict[tuple[str, str], StatusEvent] = {}
    for event in events:
        key = (event.party_id, JOB_TASK)
        if event.task == JOB_TASK and event.status == "failed" and (key not in out or event.timestamp < out[key].timestamp):
            out[key] = event
    return out


def paused(known: Known) -> StatusEvent | None:
    """The pause in force (the newest pause/resume of any party is a pause), if any."""
    pause = job_pause(known.values())
    return pause if pause is not None and pause.status == "paused" else None


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def peer_view(known: Known, party_id: str, role: str, steps: Sequence[str]) -> dict[str, Any]:
    """A peer's state, step tasks (the ones that report) and last error as its events tell (no news: ``pending``)."""
    mine = {task: event for (pid, task), event in known.items() if pid == party_id}
    step_view = {
        task: {"state": mine[task].status if task in mine else None, "start_date": None, "end_date": None,
               "try_number": mine[task].attempt if task in mine else None, "progress": None}
        for task in steps
    }  # fmt: skip
    for task, view in step_view.items():
        event = mine.get(task)
        if event is not None:
            view["start_date" if event.status == "running" else "end_date"] = iso(event.timestamp)
    ended = mine.get(JOB_TASK)
    # its steps running then were stopped and post no end; a step's `running` stamped just after the end (the stop
    # raced its start) is as dead: nothing runs at a party after its job end until a rerun voids that end
    if ended is not None and ended.status == "failed":
        for view in step_view.values():
            if view["state"] == "running":
                view.update(state="failed", end_date=iso(ended.timestamp))
    failures = [e for e in mine.values() if e.status == "failed"]
    error = None
    if failures:
        worst = mine.get(JOB_TASK) or max(failures, key=lambda e: e.timestamp)
        error = {
            "reason": worst.reason or "failed",
            "step": None if worst.task == JOB_TASK else worst.task,
            "at": iso(worst.timestamp),
        }
    states = [step_view[t]["state"] for t in steps]
    if error is not None:
        state = "failed"
    elif paused(known) is not None:
        state = "paused"
    elif steps and all(s == "success" for s in states):
        state = "success"
    elif any(states) or (party_id, PAUSE_TASK) in known:
        state = "running"
    else:
        state = "pending"
    return {"role": role, "state": state, "local": False, "steps": step_view, "error": error}
