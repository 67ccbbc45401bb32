from __future__ import annotations

import asyncio

from airflow_provider_powerfl.triggers.peer import FederatedPeerTrigger

NONCE = "0f" * 16


def test_serialize_round_trip():
    trigger = FederatedPeerTrigger(
        powerfl_conn_id="powerfl_guest",
        job_id="J",
        nonce=NONCE,
        peer_task="train",
        parties=["20000", "30000"],
        deadline=1.5e9,
        poll_interval=0.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_powerfl.triggers.peer.FederatedPeerTrigger"
    again = FederatedPeerTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert kwargs == {
        "powerfl_conn_id": "powerfl_guest",
        "job_id": "J",
        "nonce": NONCE,
        "peer_task": "train",
        "parties": ["20000", "30000"],
        "status": "success",
        "deadline": 1.5e9,
        "poll_interval": 0.5,
    }


def test_a_broken_connection_becomes_an_error_event(monkeypatch):
    def no_connection(conn_id: str, job_id: str, nonce: str):
        raise LookupError(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr("airflow_provider_powerfl.triggers.peer.open_reader", no_connection)
    trigger = FederatedPeerTrigger(powerfl_conn_id="missing", job_id="J", nonce=NONCE, peer_task="train", parties=["20000"])

    async def first():
        return await anext(trigger.run())

    event = asyncio.run(first())
    assert event.payload == {"status": "error", "job_id": "J", "message": "LookupError: The conn_id `missing` isn't defined"}
