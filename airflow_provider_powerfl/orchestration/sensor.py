"""FederatedPeerSensor that also ends when another party ends the job (``__job__`` failed)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import TriggerEvent

from airflow_provider_powerfl.federation.events import StatusEvent, event_from_dict
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, JobFailedElsewhere
from airflow_provider_powerfl.sensors.peer import FederatedPeerSensor
from airflow_provider_powerfl.triggers.peer import FederatedPeerTrigger


def _job_ended(known: dict[tuple[str, str], StatusEvent], parties: list[str] | tuple[str, ...]) -> StatusEvent | None:
    """The first waited-for party's ``__job__ failed`` event, if one ended the job."""
    for party_id in parties:
        event = known.get((party_id, JOB_TASK))
        if event is not None and event.status == "failed":
            return event
    return None


class JobPeerTrigger(FederatedPeerTrigger):
    """FederatedPeerTrigger that fires ``job_failed`` when a waited-for party ends the job."""

    def ending_event(self, known: dict[tuple[str, str], StatusEvent]) -> TriggerEvent | None:
        ended = _job_ended(known, self.parties)
        return None if ended is None else TriggerEvent({"status": "job_failed", "job_id": self.job_id, "event": asdict(ended)})


class JobPeerSensor(FederatedPeerSensor):
    """Wait for peers like FederatedPeerSensor; fail for good, with the party and reason, when one ends the job."""

    trigger_class = JobPeerTrigger

    def check_job(self, known: dict[tuple[str, str], StatusEvent]) -> None:
        ended = _job_ended(known, self._parties)
        if ended is not None:
            raise AirflowFailException(str(JobFailedElsewhere(ended)))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("status") == "job_failed":
            raise AirflowFailException(str(JobFailedElsewhere(event_from_dict(event["event"]))))
        return super().execute_complete(context, event)
