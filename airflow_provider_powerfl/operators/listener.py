"""The listener DAG's task: answer invitations to this party and start the invited pipeline runs."""

from __future__ import annotations

import base64
import time
from collections.abc import Collection
from typing import Any

from airflow.sdk import BaseOperator, Variable

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.envelope import open_envelope
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PowerFLPartyHook, load_registry, load_signing_key
from airflow_provider_powerfl.orchestration.invitation import INVITATION_TASK, Invitation, InvitationRefused, open_invitation
from airflow_provider_powerfl.orchestration.listener import LOOKBACK, check_conf_policy, offset_variable
from airflow_provider_powerfl.policy import PartyPolicy
from airflow_provider_powerfl.triggers.invitation import InvitationTrigger

_KEEP_OUTCOMES = 50  # outcomes a listener run keeps for its XCom


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
        party = PowerFLPartyHook(self.powerfl_conn_id).get_party()
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
        party = PowerFLPartyHook(self.powerfl_conn_id).get_party()
        registry = load_registry(party)
        if status == "invitations":
            signing_key = load_signing_key(party)
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
