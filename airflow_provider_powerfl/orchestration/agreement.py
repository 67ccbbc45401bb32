"""Agreeing on a pipeline: signed proposals and decisions, and the rule that only the version all accepted runs.

A **version** is the SHA-256 of the pipeline's mapping as canonical JSON (its YAML's comments and layout do
not count). Saving a pipeline proposes it to the parties it names; each named party accepts or rejects that
exact version. Proposals and decisions travel like every wire message: a signed envelope (tag
``powerfl.workspace``, job id ``pipeline.<id>``, the version's first 16 bytes as the nonce) produced into the
receiver's own broker, topic ``powerfl-workspace.<party>``. Each party keeps every such message it sent or
received verbatim (workspace.py) and verifies it again on every read: its record of who agreed to what is
only ever what the parties signed, and a message altered anywhere is refused.

A party whose policy sets ``require_agreement`` runs a pipeline only in a version every party of the job
accepted, checked where a job starts (the initiator's invite task) and where an invitation arrives (the
listener), each at its own records.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Header, open_envelope, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.jobs.spec import parse_party_roles

WORKSPACE_TAG = "powerfl.workspace"
DECISIONS = ("accept", "reject")


class AgreementRefused(ConfigError):
    """A pipeline version not accepted by every party of the job; the message says which party and why."""


def workspace_topic(party_id: str) -> str:
    """The topic on `party_id`'s own broker where others post proposals and decisions to it."""
    return f"powerfl-workspace.{party_id}"


def pipeline_version(definition: Mapping[str, Any]) -> str:
    """The version of a pipeline mapping: SHA-256 (hex) of its canonical JSON."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def named_parties(definition: Mapping[str, Any]) -> tuple[str, ...]:
    """The party ids a pipeline names (its ``parties``), in order."""
    return tuple(parse_party_roles(list(definition.get("parties") or ()), "parties"))


@dataclass(frozen=True)
class Record:
    """One verified proposal (``decision`` is then the proposer's own "accept") or decision."""

    kind: str  # "proposal" | "decision"
    pipeline_id: str
    version: str
    party: str  # who signed it
    user: str  # the Airflow user who acted at that party
    decision: str  # "accept" | "reject"
    comment: str
    at: float
    definition: Mapping[str, Any] | None = None  # proposals only
    parties: tuple[str, ...] = ()  # proposals only: the named parties
    id: str = field(default="", compare=False)  # the stored file's name

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "definition"}


def proposal_body(definition: Mapping[str, Any], user: str, comment: str) -> dict[str, Any]:
    """What a proposal of `definition` says (validated: a pipeline nobody can run is no proposal)."""
    pipeline = PipelineDef.from_dict(dict(definition))
    version = pipeline_version(definition)
    return {"kind": "proposal", "pipeline_id": pipeline.dag_id, "version": version, "user": user, "comment": comment,
            "decision": "accept", "definition": dict(definition), "at": time.time()}  # fmt: skip


def decision_body(pipeline_id: str, version: str, decision: str, user: str, comment: str) -> dict[str, Any]:
    if decision not in DECISIONS:
        raise ConfigError(f"decision: expected {'|'.join(DECISIONS)}, got {decision!r}")
    return {"kind": "decision", "pipeline_id": pipeline_id, "version": version, "user": user, "comment": comment,
            "decision": decision, "at": time.time()}  # fmt: skip


def seal_record(body: Mapping[str, Any], sender: str, receiver: str, key: SigningKey) -> bytes:
    """One signed workspace message from `sender` to `receiver` (its nonce: the version's first 16 bytes)."""
    payload = codec.encode_bytes(dict(body))
    header = Header(f"pipeline.{body['pipeline_id']}", 1, WORKSPACE_TAG, 0, 0, 1, 0, len(payload), sender, receiver,
                    float(body["at"]), bytes.fromhex(body["version"])[:16])  # fmt: skip
    return seal(header, [payload], key)


def open_record(wire: bytes, registry: PartyRegistry, me: str) -> Record:
    """Verify one workspace message to `me`; MalformedMessage says why it is refused."""
    envelope = open_envelope(wire)
    h = envelope.header
    if h.tag != WORKSPACE_TAG or h.receiver != me:
        raise MalformedMessage(f"message with tag {h.tag!r} for party {h.receiver!r} is no workspace message to party {me}")
    if h.sender not in registry:
        raise MalformedMessage(f"workspace message from unknown party {h.sender!r}")
    if not envelope.verify(registry.get(h.sender).verify_key()):
        raise MalformedMessage(f"workspace message claiming party {h.sender} has a bad signature")
    body = codec.decode(envelope.payload)
    if not isinstance(body, dict) or body.get("kind") not in ("proposal", "decision"):
        raise MalformedMessage(f"workspace message from party {h.sender} has a malformed body")
    try:
        record = _record(body, h.sender)
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"workspace message from party {h.sender}: {exc}") from exc
    if h.job_id != f"pipeline.{record.pipeline_id}" or h.nonce != bytes.fromhex(record.version)[:16]:
        raise MalformedMessage(f"workspace message from party {h.sender}: its header names another pipeline or version")
    return record


def _record(body: Mapping[str, Any], sender: str) -> Record:
    pipeline_id, version = str(body["pipeline_id"]), str(body["version"])
    if len(version) != 64 or bytes.fromhex(version).hex() != version:
        raise ValueError(f"version {version!r} is no SHA-256")
    if body["decision"] not in DECISIONS:
        raise ValueError(f"decision {body['decision']!r}")
    definition, parties = None, ()
    if body["kind"] == "proposal":
        definition = body["definition"]
        if pipeline_version(definition) != version:
            raise ValueError(f"the pipeline it proposes is not version {version[:12]} (altered)")
        if PipelineDef.from_dict(dict(definition)).dag_id != pipeline_id:
            raise ValueError(f"the pipeline it proposes is not {pipeline_id!r}")
        parties = named_parties(definition)
        if sender not in parties:
            raise ValueError(f"party {sender} proposes a pipeline that does not name it")
    return Record(str(body["kind"]), pipeline_id, version, sender, str(body["user"]), str(body["decision"]),
                  str(body["comment"]), float(body["at"]), definition, parties)  # fmt: skip


def proposal_of(records: Iterable[Record], pipeline_id: str, version: str) -> Record | None:
    """The first proposal of that exact version."""
    found = [r for r in records if r.kind == "proposal" and r.pipeline_id == pipeline_id and r.version == version]
    return min(found, key=lambda r: r.at) if found else None


def decisions(records: Iterable[Record], pipeline_id: str, version: str) -> dict[str, Record]:
    """Each party's latest word on that version (a proposal is its proposer's acceptance)."""
    latest: dict[str, Record] = {}
    for r in sorted(records, key=lambda r: r.at):
        if r.pipeline_id == pipeline_id and r.version == version:
            latest[r.party] = r
    return latest


def agreement_state(records: Sequence[Record], pipeline_id: str, version: str, parties: Iterable[str] = ()) -> str:
    """``accepted`` (every named party and every one of `parties` accepted), ``rejected`` (one rejected), or ``pending``."""
    proposal = proposal_of(records, pipeline_id, version)
    if proposal is None:
        return "unproposed"
    words = decisions(records, pipeline_id, version)
    required = {*proposal.parties, *parties}
    if any(words[p].decision == "reject" for p in required if p in words):
        return "rejected"
    return "accepted" if all(p in words and words[p].decision == "accept" for p in required) else "pending"


def check_agreed(records: Sequence[Record], pipeline_id: str, version: str, parties: Iterable[str] = ()) -> None:
    """AgreementRefused unless every party the pipeline names (and each of `parties`, the job's) accepted `version`."""
    where = f"pipeline {pipeline_id!r} version {version[:12]}"
    proposal = proposal_of(records, pipeline_id, version)
    if proposal is None:
        raise AgreementRefused(f"{where} was never proposed to its parties: propose it and have every party accept it")
    words = decisions(records, pipeline_id, version)
    for party in sorted({*proposal.parties, *parties}):
        word = words.get(party)
        if word is None:
            raise AgreementRefused(f"{where}: party {party} has not accepted it")
        if word.decision != "accept":
            raise AgreementRefused(f"{where}: party {party} rejected it ({word.user}: {word.comment or 'no comment'})")
