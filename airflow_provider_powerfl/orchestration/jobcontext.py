"""This party's view of a run's job, read once per task: connection, registry, signing key and job conf."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook, load_registry, load_signing_key
from airflow_provider_powerfl.jobs.conf import JobConf
from airflow_provider_powerfl.orchestration.jobstate import announce_job_failure
from airflow_provider_powerfl.orchestration.nonce import run_nonce

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """This party (its connection), its registry and the run's job; the signing key is read when first used."""

    party: PartyConnection
    registry: PartyRegistry
    job: JobConf

    @property
    def peers(self) -> list[str]:
        return [p for p in self.job.parties if p != self.party.party_id]

    @cached_property
    def signing_key(self) -> SigningKey:
        return load_signing_key(self.party)


def job_context(context: Any, powerfl_conn_id: str = PowerFLPartyHook.default_conn_name, job_id: str | None = None) -> JobContext:
    """Read the connection and registry, and the job from the run's conf (job id: `job_id`, the conf's, else the run id)."""
    party = PowerFLPartyHook(powerfl_conn_id).get_party()
    registry = load_registry(party)
    dag_run = context["dag_run"]
    job = JobConf.from_conf(dag_run.conf, job_id or dag_run.run_id)
    job.role_of(party)
    return JobContext(party, registry, job)


def is_initiator(conf: Mapping[str, Any] | None, party_id: str) -> bool:
    """A run triggered by a user (no ``initiator`` in its conf) initiates; one started by an invitation does not."""
    initiator = str((conf or {}).get("initiator") or "")
    return initiator in ("", party_id)


def end_job_on_failure(context: Any) -> None:
    """``on_failure_callback`` of every pipeline task: a task failed for good here, so the job ends everywhere."""
    ti, task = context["ti"], context["task"]
    exc = context.get("exception")
    if isinstance(exc, AirflowFailException) and "ended by party" in str(exc):
        return  # another party ended the job; it told everybody already
    try:
        jc = getattr(task, "job_ctx", None) or job_context(
            context, getattr(task, "powerfl_conn_id", PowerFLPartyHook.default_conn_name)
        )
        nonce = bytes.fromhex(run_nonce(context))  # none: the invite task failed before inviting anybody
        key = jc.signing_key
    except Exception:
        log.exception("cannot tell the other parties that task %s failed", ti.task_id)
        return
    reason = f"task {ti.task_id!r} failed at party {jc.party.party_id}: {exc}"
    announce_job_failure(jc.registry, key, jc.job.job_id, jc.party.party_id, jc.peers, reason, nonce=nonce)
