"""Errors of the alignment protocols; each names the party, peer, job and tag at fault."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.party import Party


class ProtocolViolation(FederationError, ValueError):
    """A peer sent a message of the wrong shape, type or size for this step of the protocol."""

    def __init__(self, party: Party, peer: str, tag: str, problem: str) -> None:
        super().__init__(
            f"party {party.party_id} in job {party.job_id!r} refused tag {tag!r} from party {peer}: {problem}"
        )
        self.peer = peer
        self.tag = tag
