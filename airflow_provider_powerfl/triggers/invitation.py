"""Waits in the triggerer for invitations on this party's own broker (see orchestration.listener)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_powerfl.orchestration.listener import invitations_event, read_invitations


class InvitationTrigger(BaseTrigger):
    """
    Fire with the invitations on this party's broker from ``offset`` on, or ``idle`` after ``idle_timeout`` seconds.

    :param powerfl_conn_id: this party's ``powerfl`` connection.
    :param offset: the first offset of the invitation topic not yet answered; None: the first at or after ``since``.
    :param since: epoch seconds; where to start when ``offset`` is None.
    :param idle_timeout: seconds without an invitation before the trigger fires ``idle``.
    :param poll_interval: seconds per Kafka poll.
    """

    def __init__(
        self,
        *,
        powerfl_conn_id: str,
        offset: int | None,
        since: float = 0.0,
        idle_timeout: float = 600.0,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.powerfl_conn_id = powerfl_conn_id
        self.offset = offset
        self.since = since
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "powerfl_conn_id": self.powerfl_conn_id,
                "offset": self.offset,
                "since": self.since,
                "idle_timeout": self.idle_timeout,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            found, next_offset = await asyncio.to_thread(
                read_invitations, self.powerfl_conn_id, self.offset, self.since, self.idle_timeout, self.poll_interval
            )
        except Exception as exc:  # noqa: BLE001 - reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
            return
        if not found:
            yield TriggerEvent({"status": "idle", "offset": next_offset})
            return
        yield TriggerEvent(invitations_event(found, next_offset))
