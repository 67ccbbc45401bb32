"""In-process transport: parties of one job in one Python process, for protocol unit tests.

Everything but Kafka is real: keys, codec, signatures and the receiver's checks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.envelope import Buffer, new_nonce
from airflow_provider_powerfl.federation.inbox import DEFAULT_MAX_AGE
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import DEFAULT_CHUNK_SIZE, Party
from airflow_provider_powerfl.federation.transport import Transport, Wire


class MemoryHub:
    """The inboxes of all parties; `capture` receives a copy of every wire message published."""

    def __init__(self, party_ids: Iterable[str], capture: list[bytes] | None = None) -> None:
        self._inboxes: dict[str, deque[bytes]] = {party_id: deque() for party_id in party_ids}
        self._ready = threading.Condition()
        self.capture = capture

    def deliver(self, dst: str, value: bytes) -> None:
        """Put `value` in `dst`'s inbox (tests use it to inject forged or replayed bytes)."""
        inbox = self._inboxes.get(dst)
        if inbox is None:
            raise ConfigError(f"party {dst!r} has no inbox in this in-memory job")
        with self._ready:
            if self.capture is not None:
                self.capture.append(value)
            inbox.append(value)
            self._ready.notify_all()

    def take(self, party_id: str, timeout: float) -> list[bytes]:
        inbox = self._inboxes[party_id]
        with self._ready:
            self._ready.wait_for(lambda: inbox, timeout=max(timeout, 0.0))
            out = list(inbox)
            inbox.clear()
        return out


class MemoryTransport(Transport):
    def __init__(self, hub: MemoryHub, party_id: str) -> None:
        self.hub = hub
        self._party_id = party_id

    def publish(self, dst: str, head: bytes, payload: Buffer) -> None:
        self.hub.deliver(dst, b"".join([head, payload]))  # joined: a copy, as Kafka makes one

    def flush(self, timeout: float | None = None) -> bool:
        return True  # delivery is immediate

    def poll(self, timeout: float) -> list[Wire]:
        return [(wire, None) for wire in self.hub.take(self._party_id, timeout)]

    def close(self, timeout: float | None = None) -> None:
        pass


def memory_parties(
    job_id: str,
    roles: Mapping[str, str],
    attempt: int = 1,
    *,
    capture: list[bytes] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_age: float = DEFAULT_MAX_AGE,
    silence_timeout: float | None = None,
    keys: Mapping[str, SigningKey] | None = None,
    nonce: bytes | None = None,
) -> dict[str, Party]:
    """Connected Party objects keyed by party id, e.g. memory_parties("job", {"10000": "guest", "20000": "host"}).

    Each party gets a fresh signing key (or its one of `keys`) and knows the others' public keys; the run
    gets a fresh nonce unless `nonce` is given. Pass a list as `capture` to collect every wire message sent.
    """
    hub = MemoryHub(roles, capture)
    nonce = new_nonce() if nonce is None else nonce
    keys = dict(keys) if keys is not None else {party_id: SigningKey.generate() for party_id in roles}
    verify_keys = {party_id: key.public_key for party_id, key in keys.items()}
    return {
        party_id: Party(
            party_id,
            roles,
            job_id,
            attempt,
            MemoryTransport(hub, party_id),
            keys[party_id],
            verify_keys,
            chunk_size=chunk_size,
            max_age=max_age,
            silence_timeout=silence_timeout,
            nonce=nonce,
        )
        for party_id in roles
    }


def run_parties(fns: Mapping[str, Callable[[], object]], timeout: float = 120.0) -> dict[str, object]:
    """Run one function per party in its own thread; each party's result, or the exception it raised.

    In-process parties block on each other's messages, so they must run concurrently.
    A party still running after `timeout` seconds is reported as a deadlock.
    """
    out: dict[str, object] = {}

    def target(party_id: str) -> None:
        try:
            out[party_id] = fns[party_id]()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            out[party_id] = exc

    threads = [threading.Thread(target=target, args=(party_id,), daemon=True) for party_id in fns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    missing = [party_id for party_id in fns if party_id not in out]
    if missing:
        raise TimeoutError(f"parties {missing} did not finish within {timeout}s (deadlock?); finished: {sorted(out)}")
    return out
