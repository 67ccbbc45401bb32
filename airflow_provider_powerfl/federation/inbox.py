"""The receiving side's checks: who may talk to us, about which job, and in what order.

`Inbox.accept` never raises: a refused chunk is logged with its reason and
counted in `rejected`, so a forged or replayed message cannot stop a job.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.buffers import POOL
from airflow_provider_powerfl.federation.envelope import Buffer, Envelope, Header, check_nonce, open_envelope
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.keys import VerifyKey

log = logging.getLogger(__name__)

# Messages can wait in the receiver's Kafka while it computes or before its
# task starts, so the age limit must exceed any such gap; replay is stopped by
# job, attempt, run nonce and sequence numbers, the age limit only bounds old captures.
DEFAULT_MAX_AGE = 3600.0
MAX_CLOCK_SKEW = 300.0
# A header may claim any size and the reassembly buffer is taken at its first chunk: refuse absurd claims
# (numpy raised out of accept) far above any protocol's messages, the largest some hundreds of MiB.
MAX_MESSAGE_SIZE = 4 << 30


@dataclass
class _Partial:
    buffer: np.ndarray  # uint8, uninitialised: freshly zeroed pages cost more than the copy into them
    chunk_count: int
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # chunk index -> (offset, length)

    def covers_all(self) -> bool:
        """True when the chunks tile the buffer exactly, so no uninitialised byte reaches decode."""
        end = 0
        for offset, length in sorted(self.spans.values()):
            if offset != end:
                return False
            end += length
        return end == len(self.buffer)


class Inbox:
    """Verifies, de-duplicates and reassembles chunks addressed to one party in one job attempt."""

    def __init__(
        self,
        party_id: str,
        job_id: str,
        attempt: int,
        verify_keys: Mapping[str, VerifyKey],
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
        *,
        nonce: bytes,
    ) -> None:
        self.party_id = party_id
        self.job_id = job_id
        self.attempt = attempt
        self.nonce = check_nonce(nonce, job_id)
        self._keys = dict(verify_keys)
        self._max_age = max_age
        self._clock = clock
        self.rejected: Counter[str] = Counter()  # reason -> chunks refused
        self.duplicates = 0  # redelivered chunks dropped silently
        self.last_heard: dict[str, float] = {}  # sender -> time.monotonic() of its last accepted chunk
        # sender -> (seconds ahead of this clock, time.monotonic()) of its last signed chunk refused as from the future
        self.skewed: dict[str, tuple[float, float]] = {}
        self._next_seq: dict[tuple[str, str], int] = {}
        self._partial: dict[tuple[str, str, int], _Partial] = {}
        self._ready: dict[tuple[str, str], dict[int, np.ndarray]] = {}

    def accept(self, wire: Buffer, payload: Buffer | None = None) -> None:
        """Take one wire message in (head and `payload`, or both in `wire`); refuse it (log, count) if a check fails.

        Header checks come first and a chunk already accepted is dropped
        before hashing: the signature costs a pass over the payload, and a
        claimed duplicate cannot change what was accepted.
        """
        try:
            envelope = open_envelope(wire, payload)
        except MalformedMessage as exc:
            self._reject("malformed", f"{exc}")
            return
        h = envelope.header
        reason = self._check(h)
        if reason is None and self._is_duplicate(h):
            self.duplicates += 1
            return
        if reason is None and not envelope.verify(self._keys[h.sender]):
            reason = "bad signature"
        if reason == "from the future" and envelope.verify(self._keys[h.sender]):  # the peer's own clock, not a forgery
            self.skewed[h.sender] = (h.timestamp - self._clock(), time.monotonic())
        if reason is not None:
            self._reject(reason, f"from {h.sender!r} job {h.job_id!r} attempt {h.attempt} tag {h.tag!r} seq {h.seq}")
            return
        self.last_heard[h.sender] = time.monotonic()
        self._store(envelope)

    def pop(self, src: str, tag: str) -> tuple[bool, object]:
        """Return (True, obj) for the next message in order from src with tag, or (False, None)."""
        key = (src, tag)
        ready = self._ready.get(key)
        seq = self._next_seq.get(key, 0)
        if not ready or seq not in ready:
            return False, None
        data = ready.pop(seq)
        self._next_seq[key] = seq + 1
        try:
            return True, codec.decode(data)
        except MalformedMessage as exc:
            raise MalformedMessage(
                f"message {seq} with tag {tag!r} from party {src} in job {self.job_id!r} cannot be decoded: {exc}"
            ) from exc

    def _check(self, h: Header) -> str | None:
        if h.sender not in self._keys:
            return "unknown sender"
        if h.receiver != self.party_id:
            return "wrong receiver"
        if h.job_id != self.job_id:
            return "wrong job"
        if h.attempt < self.attempt:
            return "stale attempt"
        if h.attempt > self.attempt:
            return "newer attempt"
        if h.nonce != self.nonce:
            return "another run of the job (nonce)"
        age = self._clock() - h.timestamp
        if not age <= self._max_age:  # NaN too
            return "too old"
        if age < -MAX_CLOCK_SKEW:
            return "from the future"
        if h.total_size > MAX_MESSAGE_SIZE:
            return "too large"
        return None

    def _is_duplicate(self, h: Header) -> bool:
        stream = (h.sender, h.tag)
        if h.seq < self._next_seq.get(stream, 0) or h.seq in self._ready.get(stream, ()):
            return True
        partial = self._partial.get((h.sender, h.tag, h.seq))
        return partial is not None and h.chunk_index in partial.spans

    def _store(self, envelope: Envelope) -> None:
        h = envelope.header
        stream = (h.sender, h.tag)
        partial_key = (h.sender, h.tag, h.seq)
        partial = self._partial.get(partial_key)
        if partial is None:
            partial = _Partial(POOL.take(h.total_size), h.chunk_count)
            self._partial[partial_key] = partial
        elif partial.chunk_count != h.chunk_count or len(partial.buffer) != h.total_size:
            self._reject("inconsistent chunk", f"from {h.sender!r} tag {h.tag!r} seq {h.seq}")
            return
        # numpy copies without holding the GIL, so the Kafka I/O thread keeps fetching meanwhile
        size = len(envelope.payload)
        if size:
            partial.buffer[h.offset : h.offset + size] = np.frombuffer(envelope.payload, dtype=np.uint8)
        partial.spans[h.chunk_index] = (h.offset, size)
        if len(partial.spans) == partial.chunk_count:
            del self._partial[partial_key]
            if not partial.covers_all():
                self._reject("inconsistent chunk", f"chunks of {h.sender!r} tag {h.tag!r} seq {h.seq} do not tile it")
                return
            self._ready.setdefault(stream, {})[h.seq] = partial.buffer

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        log.warning("party %s refused a message (%s): %s", self.party_id, reason, detail)
