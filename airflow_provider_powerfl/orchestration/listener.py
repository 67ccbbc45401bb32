"""The listener DAG: each party waits for invitations on its own broker and starts the invited pipeline.

Why a listener DAG and not an AssetWatcher: an asset-triggered run has no
conf and a generated run id, and the scheduler may fold several asset events
into one run, while a job needs its conf, its job id as run id and exactly
one run per invitation. The listener starts ``dag_id`` with run id = job id,
so a redelivered invitation finds its run and changes nothing; it moves its
read offset (an Airflow Variable) after each answered invitation, so a crash
in between re-reads it instead of losing it.

Why a run every minute and not ``@continuous``: a failed continuous run left
the DAG stuck ("run already exists", no next run), so one bad start (e.g. the
API server not up yet) silenced the party for good. A cron-scheduled run
listens for ``listen_for`` seconds (deferred, re-deferring after each batch)
and then ends; whether it ended well or failed, the next minute brings the
next run. With no saved offset a party starts ``LOOKBACK`` seconds back in
time, not at the topic's start: old invitations are for jobs nobody waits for.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Collection
from typing import Any

from airflow.sdk import BaseOperator, Variable
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.federation.envelope import open_envelope
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.orchestration.invitation import (
    INVITATION_TASK,
    Invitation,
    InvitationRefused,
    invitation_topic,
    open_invitation,
)
from airflow_provider_powerfl.policy import PartyPolicy

LISTENER_DAG_ID = "powerfl_listener"
LOOKBACK = 300.0  # seconds; with no saved offset, invitations younger than this are still answered
_KEEP_OUTCOMES = 50  # outcomes a listener run keeps for its XCom


def offset_variable(party_id: str) -> str:
    return f"powerfl_listener_offset_{party_id}"


def _party(powerfl_conn_id: str) -> tuple[PartyConnection, PartyRegistry]:
    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    if not party.registry_path:
        raise ConfigError(f"connection {party.conn_id!r} field 'registry_path': must name the party registry")
    return party, PartyRegistry.from_yaml(party.registry_path)


def check_conf_policy(invitation: Invitation, policy: PartyPolicy) -> None:
    """Refuse an invitation whose conf asks this party for less than its policy allows, before any run starts."""
    try:
        JobConf.from_conf(invitation.conf, invitation.job_id).check_policy(invitation.receiver, policy)
    except ConfigError as exc:  # PolicyRefused included
        raise InvitationRefused(f"{invitation.describe()}: {exc}", invitation.initiator, invitation.job_id) from exc


def _read_from(powerfl_conn_id: str, offset: int | None, since: float, wait: float, poll: float) -> tuple[list[tuple[int, bytes]], int]:
    """Invitations on this party's own broker from `offset` (None: the first at or after time `since`) and the next offset.

    Waits up to `wait` seconds for the first one.
    """
    from kafka import KafkaConsumer, TopicPartition

    from airflow_provider_powerfl.federation.kafka_transport import ensure_topic

    party, registry = _party(powerfl_conn_id)
    config = registry.get(party.party_id).kafka_config()
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
        self, *, powerfl_conn_id: str, offset: int | None, since: float = 0.0, idle_timeout: float = 600.0, poll_interval: float = 1.0
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
                _read_from, self.powerfl_conn_id, self.offset, self.since, self.idle_timeout, self.poll_interval
            )
        except Exception as exc:  # reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
            return
        if not found:
            yield TriggerEvent({"status": "idle", "offset": next_offset})
            return
        messages = [{"offset": offset, "wire": base64.b64encode(wire).decode("ascii")} for offset, wire in found]
        yield TriggerEvent({"status": "invitations", "messages": messages, "offset": next_offset})


class InvitationListenerOperator(BaseOperator):
    """
    Wait (deferred) for invitations to this party for ``listen_for`` seconds, verify each and start the invited pipeline run.

    An invitation is accepted when its signature matches the registry key of its
    sender, the pipeline is in ``pipelines`` and this party's privacy policy
    (its ``powerfl`` connection's) allows both the sender (``allowed_parties``)
    and what the conf asks of this party; the run starts with run id = job id
    and the invitation's conf plus ``initiator``. The answer (accepted, or refused with the reason)
    goes back to the initiator as a signed event. The task's XCom lists the
    outcomes (the last 50).

    :param pipelines: DAG ids this party runs on invitation.
    :param listen_for: seconds one listener run waits for invitations before it ends (the next run listens again).
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    """

    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        pipelines: Collection[str],
        listen_for: float = 300.0,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipelines = sorted(pipelines)
        self.listen_for = listen_for
        self.powerfl_conn_id = powerfl_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        party, _ = _party(self.powerfl_conn_id)
        saved = Variable.get(offset_variable(party.party_id), default=None)
        offset = None if saved is None else int(saved)
        if offset is None:
            self.log.info("party %s has no saved invitation offset: answering invitations of the last %gs on", party.party_id, LOOKBACK)
        else:
            self.log.info("party %s listens for invitations from offset %d", party.party_id, offset)
        return self._listen(offset, time.time() + self.listen_for, [])

    def _listen(self, offset: int | None, deadline: float, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Defer until the next invitations or `deadline`; past the deadline the run ends with its outcomes."""
        remaining = deadline - time.time()
        if remaining < 5.0:
            return outcomes
        self.defer(
            trigger=InvitationTrigger(
                powerfl_conn_id=self.powerfl_conn_id, offset=offset, since=time.time() - LOOKBACK, idle_timeout=remaining
            ),
            method_name="execute_complete",
            kwargs={"deadline": deadline, "outcomes": outcomes[-_KEEP_OUTCOMES:]},
        )

    def execute_complete(
        self, context: Any, event: dict[str, Any], deadline: float = 0.0, outcomes: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        outcomes = list(outcomes or [])
        status = event.get("status")
        if status not in ("idle", "invitations"):
            raise PowerFLError(f"reading invitations failed: {event.get('message', event)}")
        party, registry = _party(self.powerfl_conn_id)
        if status == "invitations":
            if not party.private_key_path:
                raise ConfigError(f"connection {party.conn_id!r} field 'private_key_path': must be set to answer invitations")
            signing_key = SigningKey.from_file(party.private_key_path)
            for message in event["messages"]:
                wire = base64.b64decode(message["wire"])
                outcomes.append(self._answer(wire, party.party_id, registry, signing_key, party.policy))
                Variable.set(offset_variable(party.party_id), str(message["offset"] + 1))
        else:
            Variable.set(offset_variable(party.party_id), str(event["offset"]))
        return self._listen(int(event["offset"]), deadline, outcomes)

    def _answer(self, wire: bytes, me: str, registry: PartyRegistry, signing_key: SigningKey, policy: PartyPolicy) -> dict[str, Any]:
        try:
            invitation = open_invitation(wire, registry, me, policy=policy, pipelines=self.pipelines)
            check_conf_policy(invitation, policy)
            run_id = self._start(invitation)
        except InvitationRefused as exc:
            self.log.error("refused: %s", exc)
            if exc.sender is not None and exc.job_id:
                # a sender is named only once the signature held: the header's nonce is the initiator's run's
                nonce = open_envelope(wire).header.nonce
                self._tell(registry, signing_key, me, exc.sender, exc.job_id, nonce, "failed", f"party {me} refused: {exc}")
            return {"job_id": exc.job_id, "sender": exc.sender, "accepted": False, "reason": str(exc)}
        nonce = bytes.fromhex(invitation.nonce)
        self._tell(registry, signing_key, me, invitation.initiator, invitation.job_id, nonce, "success", f"run {run_id} of {invitation.dag_id}")
        return {"job_id": invitation.job_id, "sender": invitation.initiator, "accepted": True, "dag_id": invitation.dag_id, "run_id": run_id}

    def _start(self, invitation: Invitation) -> str:
        """Trigger the pipeline run (run id = job id) through the task's Execution API channel; idempotent."""
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun

        conf = {**dict(invitation.conf), "job_id": invitation.job_id, "initiator": invitation.initiator, "nonce": invitation.nonce}
        reply = task_runner.SUPERVISOR_COMMS.send(
            TriggerDagRun(
                dag_id=invitation.dag_id,
                run_id=invitation.job_id,
                conf=conf,
                note=f"PowerFL job {invitation.job_id} started by party {invitation.initiator}'s invitation",
            )
        )
        if isinstance(reply, ErrorResponse):
            if reply.error == ErrorType.DAGRUN_ALREADY_EXISTS:
                self.log.info("run %s of %s exists already (invitation seen before)", invitation.job_id, invitation.dag_id)
                return invitation.job_id
            raise InvitationRefused(
                f"party {invitation.receiver} could not start {invitation.dag_id} for job {invitation.job_id!r}: {reply.detail or reply.error}",
                invitation.initiator,
                invitation.job_id,
            )
        self.log.info("accepted the %s: started run %s", invitation.describe(), invitation.job_id)
        return invitation.job_id

    def _tell(
        self, registry: PartyRegistry, key: SigningKey, me: str, to: str, job_id: str, nonce: bytes, status: str, reason: str
    ) -> None:
        event = StatusEvent(job_id, me, INVITATION_TASK, status, 1, reason, time.time())
        try:
            publish_event(registry, key, event, [to], nonce=nonce, timeout=15.0)
        except PowerFLError:
            self.log.exception("could not answer party %s about job %r", to, job_id)
