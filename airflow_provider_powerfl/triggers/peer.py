"""Waits in the triggerer for other parties' status events of one job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_powerfl.federation.events import EventReader, StatusEvent, latest, wait_state
from airflow_provider_powerfl.hooks.party import PowerFLPartyHook, load_registry
from airflow_provider_powerfl.orchestration.jobstate import current_known, job_ended


def open_reader(powerfl_conn_id: str, job_id: str, nonce: str) -> EventReader:
    """This party's verified event reader for the run (`job_id`, hex `nonce`) (blocking: connection, registry, broker)."""
    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    return EventReader(load_registry(party), party.party_id, job_id, nonce=bytes.fromhex(nonce))


class FederatedPeerTrigger(BaseTrigger):
    """
    Fire when every party in ``parties`` reports ``status`` for ``peer_task`` of ``job_id``, or one reports failure.

    :param powerfl_conn_id: this party's ``powerfl`` connection (its broker and registry).
    :param job_id: the job whose events are read.
    :param nonce: the run's nonce (hex); events of another run of the job are dropped.
    :param peer_task: the peers' task name, e.g. ``train``.
    :param parties: the party ids to wait for.
    :param status: the awaited status (``success`` by default).
    :param deadline: epoch seconds after which the trigger fires a timeout event.
    :param poll_interval: seconds per Kafka poll.
    """

    def __init__(
        self,
        *,
        powerfl_conn_id: str,
        job_id: str,
        nonce: str,
        peer_task: str,
        parties: Sequence[str],
        status: str = "success",
        deadline: float | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.powerfl_conn_id = powerfl_conn_id
        self.job_id = job_id
        self.nonce = nonce
        self.peer_task = peer_task
        self.parties = list(parties)
        self.status = status
        self.deadline = deadline
        self.poll_interval = poll_interval
        self._reader: EventReader | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "powerfl_conn_id": self.powerfl_conn_id,
                "job_id": self.job_id,
                "nonce": self.nonce,
                "peer_task": self.peer_task,
                "parties": list(self.parties),
                "status": self.status,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            self._reader = await asyncio.to_thread(open_reader, self.powerfl_conn_id, self.job_id, self.nonce)
        except Exception as exc:  # noqa: BLE001 - reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "job_id": self.job_id, "message": f"{type(exc).__name__}: {exc}"})
            return
        known: dict[tuple[str, str], StatusEvent] = {}
        try:
            while True:
                events = await asyncio.to_thread(self._reader.poll, self.poll_interval)
                known = current_known(latest(events, known))  # a rerun voids the failures before it
                ended = self.ending_event(known)
                if ended is not None:
                    yield ended
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

    def ending_event(self, known: dict[tuple[str, str], StatusEvent]) -> TriggerEvent | None:
        """An event that ends the wait before the peers report; subclasses watch for more than the peer task."""
        return None

    async def cleanup(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.to_thread(reader.close)


class JobPeerTrigger(FederatedPeerTrigger):
    """FederatedPeerTrigger that fires ``job_failed`` when a waited-for party ends the job."""

    def ending_event(self, known: dict[tuple[str, str], StatusEvent]) -> TriggerEvent | None:
        ended = job_ended(known, self.parties)
        return None if ended is None else TriggerEvent({"status": "job_failed", "job_id": self.job_id, "event": asdict(ended)})
