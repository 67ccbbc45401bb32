"""Errors of the alignment protocols; each names the party, peer, job and tag at fault."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import CryptoError, FederationError
from airflow_provider_powerfl.federation.party import Party


class ProtocolViolation(FederationError, ValueError):
    """A peer sent a message of the wrong shape, type or size for this step of the protocol."""

    def __init__(self, party: Party, peer: str, tag: str, problem: str) -> None:
        super().__init__(f"party {party.party_id} in job {party.job_id!r} refused tag {tag!r} from party {peer}: {problem}")
        self.peer = peer
        self.tag = tag


class RsaPeerError(ProtocolViolation, CryptoError):
    """A peer's RSA key or signatures failed a check (e other than 65537, a short modulus, a key
    proof or a signature that does not verify): nothing it signed is used."""


class QueryLimitExceeded(FederationError):
    """A joint query asked the answering party to sign more ids than its own ``max_asked`` allows."""

    def __init__(self, party: Party, host: str, querier: str, asked: int, max_asked: int) -> None:
        super().__init__(
            f"party {party.party_id} in job {party.job_id!r}: querier {querier} asked host {host} to sign "
            f"{asked} ids, above the host's max_asked={max_asked}; nothing was signed"
        )
        self.querier = querier
        self.asked = asked
        self.max_asked = max_asked
