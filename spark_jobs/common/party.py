"""This party's Kafka-backed :class:`Party` for one job attempt, built from the task spec alone.

The spec carries every party's broker, security settings and public key, so a
step needs no registry file: the spec is turned into a :class:`PartyRegistry`.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import Party, peers_know
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.params import StepParams
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.validation import parse
from spark_jobs.common import startup


def registry_from_spec(spec: TaskSpec) -> PartyRegistry:
    """Every party of the spec as a registry entry (broker, security, public key)."""
    entries: dict[str, Any] = {}
    for party in spec.parties:
        entry: dict[str, Any] = {
            "role": party.role,
            "bootstrap_servers": list(party.bootstrap_servers),
            "public_key": party.public_key,
        }
        if party.security is not None:
            entry["security"] = party.security.client_kwargs()
        entries[party.id] = entry
    return PartyRegistry.from_dict({"parties": entries})


def channel_name(job_id: str, step: str, channel: str | None) -> str:
    """The federation job id of one step: ``<job_id>.<step>``, or ``<job_id>.<params.channel>``.

    Every step of a job gets its own inbox topics and message sequences: the
    steps of one job (and attempt) would otherwise share them, and a later
    step would read an earlier step's messages of the same tag first. Two
    runs of one step in one job (e.g. predict on two data sets) set
    ``params.channel`` to tell them apart; it must be equal at every party.
    """
    return f"{job_id}.{channel or step}"


def build_party(spec: TaskSpec, step: str) -> Party:
    """This party of the spec's job and attempt on the step's channel, talking to every other party of the spec."""
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its per-connection INFO lines bury the step's log
    startup.mark("party")  # the inputs are read and checked
    roles = {p.id: p.role for p in spec.parties}
    signing_key = SigningKey.from_file(spec.private_key)
    shared = shared_params(spec)
    party = Party.from_registry(
        registry_from_spec(spec), spec.party_id, signing_key, channel_name(spec.job_id, step, shared.channel), spec.attempt,
        roles, nonce=bytes.fromhex(spec.nonce), silence_timeout=shared.silence_timeout,
    )  # fmt: skip
    startup.mark("connected")  # own inbox open; the first heartbeat to each peer is on its way
    return party


def tell_peers_failed(spec: TaskSpec, step: str, exc: BaseException) -> None:
    """Tell every peer of the step that this party failed, so they stop at once (PeerFailed) instead of timing out.

    For failures outside the step's own ``with build_party(...)`` (e.g. a bad input read before it);
    inside it, the party told them already and no second party is built.
    """
    if peers_know(exc):
        return
    try:
        with build_party(spec, step) as party:
            party.tell_peers_failed(exc)
    except Exception:  # the peers fall back on their recv timeout
        logging.getLogger(__name__).exception("could not tell the peers of step %s that it failed", step)


def shared_params(spec: TaskSpec) -> StepParams:
    """The parameters every step takes (timeout, silence_timeout, channel), checked by the job contract's model."""
    return parse(StepParams, {k: v for k, v in spec.params.items() if k in StepParams.model_fields}, "params")
