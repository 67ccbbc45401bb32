"""The first task of every pipeline: the initiating party invites the others and waits for their answers."""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.events import EventReader, StatusEvent, latest
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PowerFLPartyHook
from airflow_provider_powerfl.jobs.spec import parse_nonce
from airflow_provider_powerfl.orchestration.agreement import AgreementRefused
from airflow_provider_powerfl.orchestration.invitation import INVITATION_TASK, Invitation, send_invitation
from airflow_provider_powerfl.orchestration.jobcontext import is_initiator, job_context
from airflow_provider_powerfl.orchestration.nonce import NONCE_XCOM
from airflow_provider_powerfl.orchestration.workspace import default_pipelines_dir, require_agreed


class InviteOperator(BaseOperator):
    """
    At the initiating party, invite every other party of the job and wait until each has accepted.

    A refusal fails the task with the refusing party's reason. At a party that
    was itself invited (``initiator`` in the conf) the task does nothing. The
    invitations carry the run's nonce: the conf's, else one drawn here and
    left in XCom (``powerfl_nonce``) for the run's other tasks.

    :param dag_id_to_start: the pipeline the others start; default this DAG.
    :param accept_timeout: seconds to wait for every party's answer.
    :param pipeline_version: the version of the pipeline this DAG was built from (orchestration/agreement.py),
        sent with the invitations; where the policy requires agreement, only a version every party accepted runs.
    :param powerfl_conn_id: this party's ``powerfl`` connection.
    """

    ui_color = "#fff2cc"

    def __init__(
        self,
        *,
        dag_id_to_start: str | None = None,
        accept_timeout: float = 120.0,
        pipeline_version: str | None = None,
        powerfl_conn_id: str = PowerFLPartyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dag_id_to_start = dag_id_to_start
        self.accept_timeout = accept_timeout
        self.pipeline_version = pipeline_version
        self.powerfl_conn_id = powerfl_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        jc = job_context(context, self.powerfl_conn_id)
        me, job_id = jc.party.party_id, jc.job.job_id
        conf = dict(context["dag_run"].conf or {})
        if not is_initiator(conf, me):
            self.log.info("job %r was started by party %s's invitation; nothing to send", job_id, conf["initiator"])
            return {"job_id": job_id, "initiator": conf["initiator"], "invited": []}
        dag_id = self.dag_id_to_start or context["dag_run"].dag_id
        if conf.get("nonce"):
            nonce = parse_nonce(conf["nonce"], "dag_run.conf.nonce")
        else:
            nonce = new_nonce().hex()
            context["ti"].xcom_push(key=NONCE_XCOM, value=nonce)
        if jc.party.policy.require_agreement:
            self._check_agreed(jc.registry, me, dag_id, list(jc.job.parties))
        invited_conf = {**conf, "job_id": job_id, "initiator": me, "nonce": nonce}
        with EventReader(jc.registry, me, job_id, nonce=bytes.fromhex(nonce)) as reader:
            for peer in jc.peers:
                invitation = Invitation(job_id, dag_id, invited_conf, me, peer, time.time(), self.pipeline_version)
                send_invitation(jc.registry, jc.signing_key, invitation)
            answers = self._wait_answers(reader, jc.peers, job_id)
        self.log.info("every party accepted job %r: %s", job_id, ", ".join(jc.peers))
        return {"job_id": job_id, "initiator": me, "invited": jc.peers, "answers": answers}

    def _check_agreed(self, registry: PartyRegistry, me: str, dag_id: str, parties: list[str]) -> None:
        """This party's policy requires agreement: its DAG's version is the one it holds, and every party accepted it."""
        try:
            require_agreed(registry, me, default_pipelines_dir(), dag_id, self.pipeline_version, parties)
        except AgreementRefused as exc:
            raise AirflowFailException(f"party {me} does not start the job: {exc}") from exc

    def _wait_answers(self, reader: EventReader, peers: list[str], job_id: str) -> dict[str, str]:
        deadline = time.monotonic() + self.accept_timeout
        known: dict[tuple[str, str], StatusEvent] = {}
        while True:
            known = latest(reader.poll(1.0), known)
            pending = []
            for peer in peers:
                answer = known.get((peer, INVITATION_TASK))
                if answer is None:
                    pending.append(peer)
                elif answer.status == "failed":
                    raise AirflowFailException(f"party {peer} refused job {job_id!r}: {answer.reason}")
            if not pending:
                return {peer: known[(peer, INVITATION_TASK)].reason or "accepted" for peer in peers}
            if time.monotonic() > deadline:
                raise AirflowFailException(
                    f"no answer to the invitation to job {job_id!r} from party {', '.join(pending)} within "
                    f"{self.accept_timeout:g}s: is its Airflow up, its powerfl_listener DAG unpaused, its broker reachable?"
                )
            self.log.info("waiting for party %s to accept job %r", ", ".join(pending), job_id)
