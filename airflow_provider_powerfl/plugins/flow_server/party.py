"""This party as its ``powerfl`` connection says (read per request: a changed connection applies at once)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook, load_registry
from airflow_provider_powerfl.plugins.flow_server.auth import User

router = APIRouter()


def this_party() -> PartyConnection:
    return PowerFLPartyHook().get_party()


def party_and_registry() -> tuple[PartyConnection, PartyRegistry]:
    party = this_party()
    return party, load_registry(party)


@router.get("/party")
def party(_user: User) -> dict[str, Any]:
    me = this_party()
    return {"party_id": me.party_id, "role": me.role, "dashboard": "/powerfl/", "api": "/flow-server"}
