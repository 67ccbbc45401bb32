"""How wire messages move between parties; the Party does not care which way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from airflow_provider_powerfl.federation.envelope import Buffer

# (head, payload) as sent; (whole wire message, None) when the head starts the buffer
Wire = tuple[bytes, bytes | None]


class Transport(ABC):
    """Delivers opaque wire messages to a party's inbox and reads this party's own inbox."""

    @abstractmethod
    def publish(self, dst: str, head: bytes, payload: Buffer) -> None:
        """Queue one wire message for party `dst`'s inbox; may return before delivery, but never
        keeps a reference to `payload` (the sender may reuse its buffer)."""

    @abstractmethod
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything published has been delivered, or for `timeout` seconds at most (None: no bound):
        whether all of it was; raise if something could not be."""

    @abstractmethod
    def poll(self, timeout: float) -> Iterable[Wire]:
        """Return the wire messages that arrive in this party's inbox within `timeout` seconds."""

    @abstractmethod
    def close(self, timeout: float | None = None) -> None:
        """Deliver what is pending (giving up after `timeout` seconds, None: no bound) and release connections."""

    def own_inbox_unreachable(self) -> str | None:
        """Why this party cannot read its own inbox now (e.g. its broker does not answer), or None: a party that hears
        nothing from its peers then says the fault is its own instead of blaming them."""
        return None
