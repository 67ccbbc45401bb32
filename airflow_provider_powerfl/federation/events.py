"""Signed job and task status events between parties ("party 20000 finished task train of job J").

An event travels like every other message: sealed in a signed envelope by its
sender and produced into the receiver's own broker, on one single-partition
topic per job and receiver. A reader reads its own topic from the beginning,
drops whatever fails the signature, names another job or receiver, carries
another run's nonce (an earlier run of a re-submitted job id) or is older than
its max age, and keeps per (party, task) the event of the highest attempt,
newest last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from airflow_provider_powerfl.exceptions import ConfigError, FederationError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Header, check_nonce, open_envelope, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.inbox import MAX_CLOCK_SKEW
from airflow_provider_powerfl.federation.kafka_transport import deliver, ensure_topic, legal_topic
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

log = logging.getLogger(__name__)

EVENT_TAG = "powerfl.event"
STATUSES = ("running", "success", "failed", "paused", "resumed")  # the last two: a job paused or resumed by a user
# An event of this run is no older than the run: the limit only bounds how long a captured event stays
# usable, and is a day so that a sensor started late in a long job still reads the job's first events.
EVENT_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True)
class StatusEvent:
    """One party's news about one of its tasks in one job attempt."""

    job_id: str
    party_id: str
    task: str
    status: str
    attempt: int
    reason: str | None = None
    timestamp: float = 0.0

    def describe(self) -> str:
        text = f"party {self.party_id} task {self.task!r} of job {self.job_id!r} attempt {self.attempt}: {self.status}"
        return f"{text} ({self.reason})" if self.reason else text


def event_topic(job_id: str, party_id: str) -> str:
    """The topic on `party_id`'s broker where the other parties post events of `job_id`."""
    return legal_topic(f"powerfl-events.{job_id}.{party_id}")


def publish_event(
    registry: PartyRegistry,
    signing_key: SigningKey,
    event: StatusEvent,
    receivers: Sequence[str],
    *,
    nonce: bytes,
    timeout: float = 30.0,
) -> None:
    """Sign `event` with the run's `nonce` and deliver it to each receiver's broker; FederationError names a
    party it could not reach."""
    if event.status not in STATUSES:
        raise ConfigError(f"event status {event.status!r}: expected {'|'.join(STATUSES)}")
    payload = codec.encode_bytes({"task": event.task, "status": event.status, "reason": event.reason, "attempt": event.attempt})
    for receiver in receivers:
        config = registry.get(receiver).kafka_config()
        topic = event_topic(event.job_id, receiver)
        wire = seal_job_message(EVENT_TAG, event.job_id, event.attempt, event.party_id, receiver, event.timestamp, payload,
                                signing_key, nonce)  # fmt: skip
        deliver(config, topic, wire, f"event to party {receiver} ({event.describe()})", timeout=timeout)
        log.info("sent to party %s: %s", receiver, event.describe())


def seal_job_message(
    tag: str,
    job_id: str,
    attempt: int,
    sender: str,
    receiver: str,
    timestamp: float,
    payload: bytes,
    key: SigningKey,
    nonce: bytes,
) -> bytes:
    """One signed single-chunk message of a run (an event or a progress report): `payload` under `sender`'s key."""
    header = Header(job_id, attempt, tag, 0, 0, 1, 0, len(payload), sender, receiver, timestamp or time.time(), nonce)
    return seal(header, [payload], key)


def open_job_message(
    wire: bytes,
    registry: PartyRegistry,
    party_id: str,
    job_id: str,
    nonce: bytes,
    *,
    tag: str,
    kind: str,
    max_age: float = EVENT_MAX_AGE,
    now: float | None = None,
) -> tuple[Header, Any]:
    """Verify one signed message of `tag` for `party_id` in the run (`job_id`, `nonce`): its header and decoded body.

    MalformedMessage, naming the `kind` of message and its sender, says why not: another tag, receiver or
    job, an unknown sender, a bad signature, another run's nonce, older than `max_age` or dated ahead.
    """
    envelope = open_envelope(wire)
    h = envelope.header
    if h.tag != tag or h.receiver != party_id or h.job_id != job_id:
        raise MalformedMessage(f"{kind} for party {h.receiver!r} job {h.job_id!r} tag {h.tag!r}")
    if h.sender not in registry:
        raise MalformedMessage(f"{kind} from unknown party {h.sender!r}")
    if not envelope.verify(registry.get(h.sender).verify_key()):
        raise MalformedMessage(f"{kind} from party {h.sender} has a bad signature")
    if h.nonce != nonce:
        raise MalformedMessage(f"{kind} from party {h.sender} belongs to another run of job {job_id!r} (nonce)")
    age = (time.time() if now is None else now) - h.timestamp
    if not age <= max_age:  # NaN too
        raise MalformedMessage(f"{kind} from party {h.sender} in job {job_id!r} is {age:.0f}s old (limit {max_age:.0f}s)")
    if age < -MAX_CLOCK_SKEW:  # one from further ahead would stay "newest" in `latest`
        raise MalformedMessage(f"{kind} from party {h.sender} in job {job_id!r} is dated {-age:.0f}s ahead of this clock")
    return h, codec.decode(envelope.payload)


def open_event(
    wire: bytes,
    registry: PartyRegistry,
    party_id: str,
    job_id: str,
    nonce: bytes,
    *,
    max_age: float = EVENT_MAX_AGE,
    now: float | None = None,
) -> StatusEvent:
    """Verify one wire event for `party_id` in the run (`job_id`, `nonce`); MalformedMessage says why not."""
    h, body = open_job_message(wire, registry, party_id, job_id, nonce, tag=EVENT_TAG, kind="event", max_age=max_age, now=now)
    if (
        not isinstance(body, dict)
        or body.get("status") not in STATUSES
        or not isinstance(body.get("task"), str)
        or not isinstance(body.get("reason"), (str, type(None)))  # trigger events carry it to the sensor
    ):
        raise MalformedMessage(f"event from party {h.sender} has a malformed body")
    return StatusEvent(h.job_id, h.sender, body["task"], body["status"], h.attempt, body.get("reason"), h.timestamp)


class EventReader:
    """Reads this party's event topic of one run of a job from its own broker and verifies every event."""

    def __init__(
        self, registry: PartyRegistry, party_id: str, job_id: str, *, nonce: bytes, max_age: float = EVENT_MAX_AGE
    ) -> None:
        self.party_id = party_id
        self.job_id = job_id
        self.nonce = check_nonce(nonce, job_id)
        self.max_age = max_age
        self._registry = registry
        self.topic = event_topic(job_id, party_id)
        config = registry.get(party_id).kafka_config()
        try:
            ensure_topic(config, self.topic)
            self._consumer = KafkaConsumer(
                **config, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=200
            )
        except KafkaError as exc:
            raise FederationError(
                f"party {party_id} cannot read events {self.topic} at {config['bootstrap_servers']}: {exc}"
            ) from exc
        self._partition = TopicPartition(self.topic, 0)
        self._consumer.assign([self._partition])
        self._consumer.seek_to_beginning(self._partition)

    def poll(self, timeout: float) -> list[StatusEvent]:
        """The verified events that arrive within `timeout` seconds."""
        batches = self._consumer.poll(timeout_ms=max(int(timeout * 1000), 0))
        events = []
        for records in batches.values():
            for record in records:
                event = self._verify(record.value)
                if event is not None:
                    events.append(event)
        return events

    def read_all(self, timeout: float = 10.0) -> list[StatusEvent]:
        """Every event on the topic now (reads up to the end offset seen at the start)."""
        end = self._consumer.end_offsets([self._partition])[self._partition]
        deadline = time.monotonic() + timeout
        events: list[StatusEvent] = []
        while self._consumer.position(self._partition) < end:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FederationError(f"party {self.party_id} could not read events {self.topic} within {timeout:g}s")
            events += self.poll(min(remaining, 1.0))
        return events

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _verify(self, wire: bytes) -> StatusEvent | None:
        try:
            return open_event(wire, self._registry, self.party_id, self.job_id, self.nonce, max_age=self.max_age)
        except (MalformedMessage, ConfigError) as exc:
            log.warning("party %s dropped an event on %s: %s", self.party_id, self.topic, exc)
            return None


@dataclass(frozen=True)
class WaitState:
    """Where waiting for `status` of `task` at some parties stands."""

    pending: tuple[str, ...]
    failed: StatusEvent | None = None

    @property
    def done(self) -> bool:
        return not self.pending and self.failed is None


class _PartyTaskNews(Protocol):
    """What ``latest`` orders by: a status event's or a progress report's party, task, attempt and time."""

    @property
    def party_id(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def timestamp(self) -> float: ...


News = TypeVar("News", bound=_PartyTaskNews)


def latest(events: Iterable[News], into: Mapping[tuple[str, str], News] | None = None) -> dict[tuple[str, str], News]:
    """Per (party, task) the event (or progress report) of the highest attempt, the newest of that attempt."""
    out = dict(into or {})
    for event in events:
        key = (event.party_id, event.task)
        known = out.get(key)
        if known is None or (event.attempt, event.timestamp) >= (known.attempt, known.timestamp):
            out[key] = event
    return out


def wait_state(known: Mapping[tuple[str, str], StatusEvent], parties: Sequence[str], task: str, status: str) -> WaitState:
    """Done when every party's latest event for `task` has `status`; failed as soon as one says failed."""
    pending = []
    for party_id in parties:
        event = known.get((party_id, task))
        if event is not None and event.status == status:
            continue
        if event is not None and event.status == "failed":
            return WaitState(tuple(parties), event)
        pending.append(party_id)
    return WaitState(tuple(pending))


def event_from_dict(data: Mapping[str, Any]) -> StatusEvent:
    return StatusEvent(**{k: data[k] for k in StatusEvent.__dataclass_fields__ if k in data})
