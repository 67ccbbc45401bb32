"""The listener DAG's tasks: ``listen`` answers invitations to this party, ``start`` starts each accepted job's run.

``start`` is Airflow's TriggerDagRunOperator, mapped over ``listen``'s
accepted invitations: a task starts another DAG's run through the public
operator, not through the Task SDK's supervisor channel.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator, Variable

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.envelope import open_envelope
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook, load_registry, load_signing_key
from airflow_provider_powerfl.jobs.pipeline import load_pipelines
from airflow_provider_powerfl.jobs.spec import parse_party_roles
from airflow_provider_powerfl.orchestration.agreement import AgreementRefused
from airflow_provider_powerfl.orchestration.invitation import Invitation, InvitationRefused, answer_invitation, open_invitation
from airflow_provider_powerfl.orchestration.listener import (
    LOOKBACK,
    check_conf_policy,
    invitations_event,
    offset_variable,
    read_invitations,
)
from airflow_provider_powerfl.orchestration.workspace import default_pipelines_dir, require_agreed
from airflow_provider_powerfl.policy import PartyPolicy
from airflow_provider_powerfl.triggers.invitation import InvitationTrigger

WAITING_LOOK = 1.0  # seconds the listener looks for invitations already waiting before it defers


def _party_keys(powerfl_conn_id: str) -> tuple[PartyConnection, PartyRegistry, SigningKey]:
    """This party, its registry and its signing key: what verifying and answering an invitation needs."""
    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    return party, load_registry(party), load_signing_key(party)


class InvitationListenerOperator(BaseOperator):
    """
    Wait (deferred) for invitations to this party, refuse the bad ones and hand the accepted ones to ``start``.

    An invitation is accepted when its signature matches the registry key of its
    sender, the pipeline is in ``pipelines`` (or in the pipelines directory now:
    an invitation naming an unknown pipeline re-reads it before it is refused,
    so a pipeline pushed through flow-server is known at once) and this party's privacy policy
    (its ``powerfl`` connection's) allows both the sender (``allowed_parties``)
    and what the conf asks of this party. A refusal goes back to the initiator
    at once, as a signed event with the reason. The task ends with the first
    batch of invitations that holds an accepted one (its XCom: one
    InvitedRunOperator's arguments per accepted invitation), or with none after
    ``listen_for`` seconds; the next listener run listens again.

    :param pipelines: DAG ids this party runs on invitation.
    :param pipelines_dir: the directory the DAG factory reads pipeline YAMLs from (default:
        ``$POWERFL_PIPELINES_DIR``, else ``<dags_folder>/pipelines``), re-read for an unknown pipeline.
    :param listen_for: seconds one listener run waits for invitations before it ends.
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    """

    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        pipelines: Collection[str],
        listen_for: float = 300.0,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        pipelines_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipelines = sorted(pipelines)
        self.pipelines_dir = pipelines_dir
        self.listen_for = listen_for
        self.powerfl_conn_id = powerfl_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        party = PowerFLPartyHook(self.powerfl_conn_id).get_party()
        saved = Variable.get(offset_variable(party.party_id), default=None)
        offset = None if saved is None else int(saved)
        if offset is None:
            self.log.info(
                "party %s has no saved invitation offset: answering invitations of the last %gs on", party.party_id, LOOKBACK
            )
        else:
            self.log.info("party %s listens for invitations from offset %d", party.party_id, offset)
        return self._listen(context, offset, time.time() + self.listen_for)

    def _listen(self, context: Any, offset: int | None, deadline: float) -> list[dict[str, Any]]:
        """Answer the invitations already waiting, else defer until the next ones or `deadline`; past the deadline
        the run ends with none accepted.

        Why look first: a trigger that fires at once races Airflow's handling of the deferring process's exit (its
        late 'success' event marks the resumed try for retry while it runs), and a try killed so after accepting
        an invitation lost it (CI run 14: an invitation that arrived beside another's).
        """
        remaining = deadline - time.time()
        if remaining < 5.0:
            return []
        found, next_offset = read_invitations(self.powerfl_conn_id, offset, time.time() - LOOKBACK, WAITING_LOOK, 0.5)
        if found:
            return self.execute_complete(context, invitations_event(found, next_offset), deadline)
        self.defer(
            trigger=InvitationTrigger(
                powerfl_conn_id=self.powerfl_conn_id, offset=offset, since=time.time() - LOOKBACK, idle_timeout=remaining
            ),
            method_name="execute_complete",
            kwargs={"deadline": deadline},
        )

    def execute_complete(self, context: Any, event: dict[str, Any], deadline: float = 0.0) -> list[dict[str, Any]]:
        """Answer the invitations the trigger found; the read offset moves past each one answered or accepted."""
        status = event.get("status")
        if status not in ("idle", "invitations"):
            raise PowerFLError(f"reading invitations failed: {event.get('message', event)}")
        accepted: list[dict[str, Any]] = []
        if status == "invitations":
            party, registry, signing_key = _party_keys(self.powerfl_conn_id)
            for message in event["messages"]:
                outcome = self._answer(base64.b64decode(message["wire"]), party.party_id, registry, signing_key, party.policy)
                if outcome["accepted"]:
                    accepted.append(outcome["run"])
                Variable.set(offset_variable(party.party_id), str(message["offset"] + 1))
        else:
            party = PowerFLPartyHook(self.powerfl_conn_id).get_party()
            Variable.set(offset_variable(party.party_id), str(event["offset"]))
        return accepted or self._listen(context, int(event["offset"]), deadline)

    def _answer(
        self, wire: bytes, me: str, registry: PartyRegistry, signing_key: SigningKey, policy: PartyPolicy
    ) -> dict[str, Any]:
        """Check one invitation: accepted, with the run to start; or refused, the initiator told why (once the signature held)."""
        try:
            try:
                invitation = open_invitation(wire, registry, me, policy=policy, pipelines=self.pipelines)
            except InvitationRefused as exc:
                if "does not run pipeline" not in str(exc) or not self._reread_pipelines():
                    raise
                invitation = open_invitation(wire, registry, me, policy=policy, pipelines=self.pipelines)
            check_conf_policy(invitation, policy)
            if policy.require_agreement:
                self._check_agreed(invitation, registry)
        except InvitationRefused as exc:
            self.log.error("refused: %s", exc)
            if exc.sender is not None and exc.job_id:
                # a sender is named only once the signature held: the header's nonce is the initiator's run's
                nonce = open_envelope(wire).header.nonce
                answer_invitation(
                    registry, signing_key, me, exc.sender, exc.job_id, nonce, "failed", f"party {me} refused: {exc}"
                )
            return {"job_id": exc.job_id, "sender": exc.sender, "accepted": False, "reason": str(exc)}
        self.log.info("accepted the %s", invitation.describe())
        return {"job_id": invitation.job_id, "sender": invitation.initiator, "accepted": True, "run": invited_run(invitation)}

    def _check_agreed(self, invitation: Invitation, registry: PartyRegistry) -> None:
        """This party's policy requires agreement: the invited version must be the one it holds and all accepted."""
        refused = f"{invitation.describe()}: "
        try:
            if invitation.pipeline_version is None:
                raise AgreementRefused("it names no pipeline version, and this party runs only agreed versions")
            parties = list(parse_party_roles(invitation.conf.get("parties", []), "conf.parties"))
            require_agreed(
                registry, invitation.receiver, self._directory(), invitation.dag_id, invitation.pipeline_version, parties
            )
        except PowerFLError as exc:  # AgreementRefused, or this party's broker or pipelines unreadable: refuse
            raise InvitationRefused(refused + str(exc), invitation.initiator, invitation.job_id) from exc

    def _directory(self) -> Path:
        return Path(self.pipelines_dir) if self.pipelines_dir else default_pipelines_dir()

    def _reread_pipelines(self) -> bool:
        """Add the pipelines stored in the pipelines directory now (pushed since the DAG was parsed); True if any is new."""
        directory = self._directory()
        try:
            found = {p.dag_id for p in load_pipelines(directory)} if directory.is_dir() else set()
        except (PowerFLError, OSError, ValueError):  # a broken YAML must not stop the answers; Airflow's parse shows it
            self.log.exception("could not re-read the pipelines in %s", directory)
            return False
        new = found - set(self.pipelines)
        if new:
            self.log.info("pipelines stored since this listener started: %s", ", ".join(sorted(new)))
            self.pipelines = sorted({*self.pipelines, *new})
        return bool(new)


def invited_run(invitation: Invitation) -> dict[str, Any]:
    """InvitedRunOperator's argument for an accepted invitation: the pipeline, the job and the run's conf."""
    conf = {**dict(invitation.conf), "job_id": invitation.job_id, "initiator": invitation.initiator, "nonce": invitation.nonce}
    return {"dag_id": invitation.dag_id, "job_id": invitation.job_id, "initiator": invitation.initiator, "conf": conf}


class InvitedRunOperator(TriggerDagRunOperator):
    """
    Start the run an accepted invitation asks for (run id = job id, the invitation's conf), then tell the initiator.

    Airflow's TriggerDagRunOperator starts it; a run that exists already (the
    invitation came again) counts as started. The initiator hears ``success``
    once the run exists, or ``failed`` with Airflow's reason when it cannot
    start. Nothing here is templated: the conf is another party's text.

    :param invitation: one accepted invitation (an item of ``listen``'s XCom, see ``invited_run``).
    :param powerfl_conn_id: this party's ``powerfl`` connection (to sign the answer).
    """

    template_fields = ()

    def __init__(
        self, *, invitation: Mapping[str, Any], powerfl_conn_id: str = PowerFLPartyHook.default_conn_name, **kwargs: Any
    ) -> None:
        # the answer is these callbacks' (a mapped task's partial arguments hold None for each)
        kwargs.update(on_success_callback=_run_started, on_skipped_callback=_run_started, on_failure_callback=_run_not_started)
        super().__init__(
            trigger_dag_id=invitation["dag_id"],
            trigger_run_id=invitation["job_id"],
            conf=dict(invitation["conf"]),
            logical_date=None,
            skip_when_already_exists=True,
            openlineage_inject_parent_info=False,  # the conf is the job's: nothing may be added to it
            note=f"PowerFL job {invitation['job_id']} started by party {invitation['initiator']}'s invitation",
            **kwargs,
        )
        self.invitation = dict(invitation)
        self.powerfl_conn_id = powerfl_conn_id


def _run_started(context: Any) -> None:
    """``start`` succeeded (or the run existed already): the initiator hears that this party runs the job."""
    _answer(context, "success")


def _run_not_started(context: Any) -> None:
    """``start`` failed: the initiator hears Airflow's reason instead of waiting out its accept timeout."""
    _answer(context, "failed")


def _answer(context: Any, status: str) -> None:
    task = context["task"]
    run = task.invitation
    party, registry, signing_key = _party_keys(task.powerfl_conn_id)
    if status == "success":
        reason = f"run {run['job_id']} of {run['dag_id']}"
    else:
        reason = f"party {party.party_id} could not start {run['dag_id']} for job {run['job_id']!r}: {context.get('exception')}"
    nonce = bytes.fromhex(run["conf"]["nonce"])
    answer_invitation(registry, signing_key, party.party_id, run["initiator"], run["job_id"], nonce, status, reason)
