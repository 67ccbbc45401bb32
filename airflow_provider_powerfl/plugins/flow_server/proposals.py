"""Proposals: a saved pipeline is proposed to the parties it names; each accepts or rejects that exact version.

The messages are signed by the party and kept verbatim (orchestration/workspace.py), so this view is only
ever what the parties signed; a message that fails its check is listed as refused with the reason. Who
acted is the Airflow user of the call (its auth manager): proposing and deciding need edit access to the
pipeline's DAG, seeing them read access.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import yaml
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.hooks.party import load_signing_key
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.orchestration.agreement import (
    Record,
    agreement_state,
    decision_body,
    decisions,
    named_parties,
    pipeline_version,
    proposal_body,
    proposal_of,
)
from airflow_provider_powerfl.orchestration.workspace import Workspace, workspace_dir
from airflow_provider_powerfl.plugins.flow_server import store
from airflow_provider_powerfl.plugins.flow_server.auth import User, may, require_dag
from airflow_provider_powerfl.plugins.flow_server.party import party_and_registry

router = APIRouter(prefix="/proposals")


class Decision(BaseModel):
    decision: Literal["accept", "reject"]
    comment: str = Field("", max_length=2000)


def user_name(user: object) -> str:
    get_name = getattr(user, "get_name", None)
    return str(get_name()) if callable(get_name) else "unknown"


def workspace() -> Workspace:
    party, registry = party_and_registry()
    return Workspace(workspace_dir(store.pipelines_dir()), registry, party.party_id)


def current_versions() -> dict[str, str]:
    """The version of each pipeline this party holds now."""
    return {pid: pipeline_version(store.definition(p)) for pid, p in store.stored().items()}


def propose(definition: dict[str, Any], user: object, comment: str = "") -> dict[str, Any]:
    """Propose this version to the parties it names, unless this party proposed it already; who was reached."""
    party, registry = party_and_registry()
    space = Workspace(workspace_dir(store.pipelines_dir()), registry, party.party_id)
    body = proposal_body(definition, user_name(user), comment)
    known = proposal_of(space.read()[0], body["pipeline_id"], body["version"])
    if known is not None and known.party == party.party_id:
        return {"version": body["version"], "sent_to": [], "missed": {}, "new": False}
    parties = named_parties(definition)
    missed = space.publish(body, load_signing_key(party), parties)
    sent = [p for p in parties if p != party.party_id and p not in missed]
    return {"version": body["version"], "sent_to": sent, "missed": missed, "new": True}


def _view(records: list[Record], proposal: Record, current: dict[str, str]) -> dict[str, Any]:
    words = decisions(records, proposal.pipeline_id, proposal.version)
    return {
        **proposal.as_dict(),
        "state": agreement_state(records, proposal.pipeline_id, proposal.version),
        "decisions": {p: words[p].as_dict() for p in proposal.parties if p in words},
        "current": current.get(proposal.pipeline_id) == proposal.version,
        "current_version": current.get(proposal.pipeline_id),
    }


def _synced() -> tuple[Workspace, str | None]:
    space = workspace()
    try:
        space.sync(timeout=5.0)
    except PowerFLError as exc:  # this party's own broker: the stored records still show
        return space, f"could not read this party's workspace topic: {exc}"
    return space, None


@router.get("")
def list_proposals(user: User) -> dict[str, Any]:
    """Every proposal this party knows, newest first, with each party's decision; the history; refused messages."""
    space, sync_error = _synced()
    records, refused = space.read()
    records = [r for r in records if may(user, r.pipeline_id)]
    current = current_versions()
    proposals = [_view(records, r, current) for r in records if r.kind == "proposal"]
    history = [r.as_dict() for r in reversed(records)]
    return {"proposals": proposals[::-1], "history": history, "refused": refused, "sync_error": sync_error}


def _proposal(records: list[Record], pipeline_id: str, version: str) -> Record:
    proposal = proposal_of(records, pipeline_id, version)
    if proposal is None:
        raise HTTPException(404, f"pipeline {pipeline_id!r} version {version[:12]}: no such proposal at this party")
    return proposal


def _dump(definition: Any) -> str:
    return yaml.safe_dump(definition, sort_keys=False) if definition is not None else ""


@router.get("/{pipeline_id}/{version}")
def show(pipeline_id: str, version: str, user: User) -> dict[str, Any]:
    """One proposal, its YAML, and the diff against the version this party holds now."""
    require_dag(user, pipeline_id)
    space, _ = _synced()
    records = space.read()[0]
    proposal = _proposal(records, pipeline_id, version)
    held = store.stored().get(pipeline_id)
    held_yaml = _dump(store.definition(held)) if held is not None else ""
    proposed_yaml = _dump(proposal.definition)
    diff = difflib.unified_diff(held_yaml.splitlines(), proposed_yaml.splitlines(), "current", "proposed", lineterm="")
    return {**_view(records, proposal, current_versions()), "definition": proposal.definition, "yaml": proposed_yaml,
            "current_yaml": held_yaml, "diff": "\n".join(diff)}  # fmt: skip


@router.post("/{pipeline_id}/{version}/decision")
async def decide(pipeline_id: str, version: str, decision: Decision, user: User) -> dict[str, Any]:
    """Accept (this party then holds that version) or reject, with a comment; every named party is told."""
    require_dag(user, pipeline_id, "PUT")
    return await run_in_threadpool(_decide, pipeline_id, version, decision, user)


def _decide(pipeline_id: str, version: str, decision: Decision, user: object) -> dict[str, Any]:
    party, registry = party_and_registry()
    space = Workspace(workspace_dir(store.pipelines_dir()), registry, party.party_id)
    space.sync(timeout=5.0)
    proposal = _proposal(space.read()[0], pipeline_id, version)
    if party.party_id not in proposal.parties:
        raise HTTPException(409, f"party {party.party_id} is not among the parties pipeline {pipeline_id!r} names")
    if decision.decision == "accept":
        definition = dict(proposal.definition or {})
        pipeline = PipelineDef.from_dict(definition, f"proposal {version[:12]}")
        store.save(pipeline, definition, store.stored().get(pipeline_id))
    body = decision_body(pipeline_id, version, decision.decision, user_name(user), decision.comment)
    missed = space.publish(body, load_signing_key(party), proposal.parties)
    records = space.read()[0]
    return {**_view(records, proposal, current_versions()), "missed": missed}
