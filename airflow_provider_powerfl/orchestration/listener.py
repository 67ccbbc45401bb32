"""The listener: each party waits for invitations on its own broker and starts the invited pipeline.

Its DAG has two tasks: ``listen`` (InvitationListenerOperator) checks each
invitation and answers refusals; ``start`` (InvitedRunOperator, Airflow's
TriggerDagRunOperator mapped over ``listen``'s accepted invitations) starts
each run and tells the initiator whether it started.

Why a listener DAG and not an AssetWatcher: an asset-triggered run has no
conf and a generated run id, and the scheduler may fold several asset events
into one run, while a job needs its conf, its job id as run id and exactly
one run per invitation. ``start`` starts ``dag_id`` with run id = job id, so
a redelivered invitation finds its run and changes nothing. ``listen`` moves
its read offset (an Airflow Variable) past each invitation it refused or
accepted; a ``start`` that fails tells the initiator why.

Why a run every minute and not ``@continuous``: a failed continuous run left
the DAG stuck ("run already exists", no next run), so one bad start (e.g. the
API server not up yet) silenced the party for good. A cron-scheduled run
listens (deferred, re-deferring after each batch) until a batch holds an
accepted invitation or ``listen_for`` seconds passed, and then ends; whether
it ended well or failed, the next minute brings the next run. With no saved
offset a party starts ``LOOKBACK`` seconds back in time, not at the topic's
start: old invitations are for jobs nobody waits for.
"""

from __future__ import annotations

import base64
import time

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.hooks.party import PowerFLPartyHook, load_registry
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.orchestration.invitation import Invitation, InvitationRefused, invitation_topic
from airflow_provider_powerfl.policy import PartyPolicy

LISTENER_DAG_ID = "powerfl_listener"
LOOKBACK = 300.0  # seconds; with no saved offset, invitations younger than this are still answered


def offset_variable(party_id: str) -> str:
    return f"powerfl_listener_offset_{party_id}"


def check_conf_policy(invitation: Invitation, policy: PartyPolicy) -> None:
    """Refuse an invitation whose conf asks this party for less than its policy allows, before any run starts."""
    try:
        JobConf.from_conf(invitation.conf, invitation.job_id).check_policy(invitation.receiver, policy)
    except ConfigError as exc:  # PolicyRefused included
        raise InvitationRefused(f"{invitation.describe()}: {exc}", invitation.initiator, invitation.job_id) from exc


def invitations_event(found: list[tuple[int, bytes]], next_offset: int) -> dict:
    """The event for invitations read, as the listener's trigger fires it (wires in base64: an event is JSON)."""
    messages = [{"offset": offset, "wire": base64.b64encode(wire).decode("ascii")} for offset, wire in found]
    return {"status": "invitations", "messages": messages, "offset": next_offset}


def read_invitations(
    powerfl_conn_id: str, offset: int | None, since: float, wait: float, poll: float
) -> tuple[list[tuple[int, bytes]], int]:
    """Invitations on this party's own broker from `offset` (None: the first at or after time `since`) and the next offset.

    Waits up to `wait` seconds for the first one.
    """
    from kafka import KafkaConsumer, TopicPartition

    from airflow_provider_powerfl.federation.kafka_transport import ensure_topic

    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    config = load_registry(party).get(party.party_id).kafka_config()
    topic = invitation_topic(party.party_id)
    ensure_topic(config, topic)
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=200)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        if offset is None:
            found = consumer.offsets_for_times({partition: int(since * 1000)}).get(partition)
            offset = found.offset if found is not None else consumer.end_offsets([partition])[partition]
        consumer.seek(partition, offset)
        deadline = time.monotonic() + wait
        while True:
            records = consumer.poll(timeout_ms=int(poll * 1000)).get(partition, [])
            if records or time.monotonic() >= deadline:
                return [(r.offset, r.value) for r in records], (records[-1].offset + 1 if records else offset)
    finally:
        consumer.close()
