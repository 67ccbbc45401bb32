"""How wire messages move between parties; the Party does not care which way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable


class Transport(ABC):
    """Delivers opaque wire messages to a party's inbox and reads this party's own inbox."""

    @abstractmethod
    def publish(self, dst: str, value: bytes) -> None:
        """Queue `value` for party `dst`'s inbox; may return before it is delivered."""

    @abstractmethod
    def flush(self) -> None:
        """Block until everything published has been delivered; raise if something could not be."""

    @abstractmethod
    def poll(self, timeout: float) -> Iterable[bytes]:
        """Return the wire messages that arrive in this party's inbox within `timeout` seconds."""

    @abstractmethod
    def close(self) -> None:
        """Deliver what is pending and release connections."""
