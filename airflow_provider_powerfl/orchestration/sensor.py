"""FederatedPeerSensor that also ends when another party ends the job (``__job__`` failed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import TriggerEvent

from airflow_provider_powerfl.federation.events import StatusEvent, event_from_dict, latest, wait_state
from airflow_provider_powerfl.orchestration.jobstate import JOB_TASK, JobFailedElsewhere
from airflow_provider_powerfl.sensors.peer import FederatedPeerSensor
from airflow_provider_powerfl.triggers.peer import FederatedPeerTrigger, open_reader


class JobPeerTrigger(FederatedPeerTrigger):
    """FederatedPeerTrigger that fires ``job_failed`` when a waited-for party ends the job."""

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            self._reader = await asyncio.to_thread(open_reader, self.powerfl_conn_id, self.job_id)
        except Exception as exc:  # reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "job_id": self.job_id, "message": f"{type(exc).__name__}: {exc}"})
            return
        known: dict[tuple[str, str], StatusEvent] = {}
        try:
            while True:
                known = latest(await asyncio.to_thread(self._reader.poll, self.poll_interval), known)
                ended = [known[(p, JOB_TASK)] for p in self.parties if (p, JOB_TASK) in known and known[(p, JOB_TASK)].status == "failed"]
                if ended:
                    yield TriggerEvent({"status": "job_failed", "job_id": self.job_id, "event": asdict(ended[0])})
                    return
                state = wait_state(known, self.parties, self.peer_task, self.status)
                if state.failed is not None:
                    yield TriggerEvent({"status": "peer_failed", "job_id": self.job_id, "event": asdict(state.failed)})
                    return
                if state.done:
                    events = [asdict(known[(p, self.peer_task)]) for p in self.parties]
                    yield TriggerEvent({"status": "done", "job_id": self.job_id, "events": events})
                    return
                if self.deadline is not None and time.time() >= self.deadline:
                    yield TriggerEvent({"status": "timeout", "job_id": self.job_id, "pending": list(state.pending)})
                    return
        finally:
            await self.cleanup()


class JobPeerSensor(FederatedPeerSensor):
    """Wait for peers like FederatedPeerSensor; fail for good, with the party and reason, when one ends the job."""

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self._job_id, parties = self._resolve(context)
        self._parties = self._pending = tuple(parties)
        # look once before deferring: a trigger that fires within seconds of the deferral races the
        # scheduler (it may take the deferral's exit for the end of the resumed try and fail the task)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=JobPeerTrigger(
                powerfl_conn_id=self.powerfl_conn_id,
                job_id=self._job_id,
                peer_task=self.peer_task,
                parties=parties,
                status=self.status,
                deadline=time.time() + self.timeout,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Any) -> PokeReturnValue:
        with open_reader(self.powerfl_conn_id, self._job_id) as reader:
            known = latest(reader.read_all())
        for party_id in self._parties:
            event = known.get((party_id, JOB_TASK))
            if event is not None and event.status == "failed":
                raise AirflowFailException(str(JobFailedElsewhere(event)))
        return super().poke(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("status") == "job_failed":
            raise AirflowFailException(str(JobFailedElsewhere(event_from_dict(event["event"]))))
        return super().execute_complete(context, event)
