"""An estimator's party with the estimator's ``timeout`` as the default of every ``recv``."""

from __future__ import annotations

from typing import Any

from airflow_provider_powerfl.federation.party import Party


class TimedParty:
    """Wraps ``party`` so a protocol's ``recv`` without a timeout waits at most ``timeout`` seconds."""

    def __init__(self, party: Party, timeout: float | None) -> None:
        self._party = party
        self._timeout = timeout

    def recv(self, src: str, tag: str, timeout: float | None = None) -> object:
        return self._party.recv(src, tag, timeout=self._timeout if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._party, name)
