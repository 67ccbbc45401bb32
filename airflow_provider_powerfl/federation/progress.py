"""Signed progress reports of a running training step ("party 20000's train of job J: epoch 3 of 10, ETA 40 s").

A step reports to its own party's broker (where its flow-server reads them) and, without the loss, to each
peer's. Like status events (events.py) a report is sealed in a signed envelope bound to the run's nonce, but
it travels on a topic of its own per job and receiver (``powerfl-progress.<job>.<party>``), so the step
guards and sensors reading the event topic never see them. A report holds counters, timings and, for its own
party only, the loss: never a data value. Publishing is best effort: a broker that is slow or gone costs a
report, never the training.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import check_nonce
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.events import latest, open_job_message, seal_job_message
from airflow_provider_powerfl.federation.kafka_transport import ensure_topic, legal_topic
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

log = logging.getLogger(__name__)

PROGRESS_TAG = "powerfl.progress"
UNITS = ("epoch", "tree")
TAIL = 200  # a reader looks at the last this many reports of a topic: the latest per (party, task) is among them


@dataclass(frozen=True)
class ProgressReport:
    """How far one party's step of one job attempt is."""

    job_id: str
    party_id: str
    task: str
    attempt: int
    unit: str  # "epoch" | "tree"
    done: int  # units completed
    of: int | None  # units at most (None: unknown)
    step: int = 0  # parts of the unit in progress completed (hetero LR's mini-batches)
    steps: int = 0  # parts per unit (0: none)
    loss: float | None = None  # only in the report to the party's own broker
    eta_s: float | None = None  # seconds left, from the elapsed time (None before the first unit part is done)
    elapsed_s: float = 0.0  # since training started
    timestamp: float = 0.0  # when the step sent it (its clock)

    def body(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("job_id", "party_id", "attempt", "timestamp")}


def progress_topic(job_id: str, party_id: str) -> str:
    """The topic on `party_id`'s broker where the parties' steps post progress reports of `job_id`."""
    return legal_topic(f"powerfl-progress.{job_id}.{party_id}")


def seal_report(report: ProgressReport, receiver: str, signing_key: SigningKey, nonce: bytes) -> bytes:
    """`report` as a signed wire message to `receiver` (without the loss unless the receiver is its own party)."""
    if receiver != report.party_id:
        report = replace(report, loss=None)
    payload = codec.encode_bytes(report.body())
    return seal_job_message(PROGRESS_TAG, report.job_id, report.attempt, report.party_id, receiver, report.timestamp, payload,
                            signing_key, nonce)  # fmt: skip


def open_report(
    wire: bytes, registry: PartyRegistry, party_id: str, job_id: str, nonce: bytes, *, now: float | None = None
) -> ProgressReport:
    """Verify one wire report for `party_id` in the run (`job_id`, `nonce`); MalformedMessage says why not."""
    h, body = open_job_message(wire, registry, party_id, job_id, nonce, tag=PROGRESS_TAG, kind="progress", now=now)
    if not _well_formed(body):
        raise MalformedMessage(f"progress from party {h.sender} has a malformed body")
    return ProgressReport(h.job_id, h.sender, attempt=h.attempt, timestamp=h.timestamp, **body)


def _well_formed(body: Any) -> bool:
    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def seconds(v: Any) -> bool:
        return isinstance(v, float) and math.isfinite(v) and v >= 0

    fields = set(ProgressReport.__dataclass_fields__) - {"job_id", "party_id", "attempt", "timestamp"}
    return (
        isinstance(body, dict)
        and set(body) == fields
        and isinstance(body["task"], str)
        and body["unit"] in UNITS
        and all(count(body[k]) for k in ("done", "step", "steps"))
        and (body["of"] is None or count(body["of"]))
        and (body["loss"] is None or (isinstance(body["loss"], float) and math.isfinite(body["loss"])))
        and (body["eta_s"] is None or seconds(body["eta_s"]))
        and seconds(body["elapsed_s"])
    )


class ProgressPublisher:
    """Posts one step's reports to its own broker and its peers' (one producer per party, kept for the step)."""

    def __init__(
        self, registry: PartyRegistry, signing_key: SigningKey, me: str, peers: Sequence[str], job_id: str, nonce: bytes
    ) -> None:
        self._registry, self._key, self._job_id = registry, signing_key, job_id
        self._nonce = check_nonce(nonce, job_id)
        self._receivers = [me, *peers]
        self._producers: dict[str, KafkaProducer | None] = {}

    def publish(self, report: ProgressReport, timeout: float = 5.0) -> None:
        """Send `report` to every receiver without waiting for the acks; a receiver that fails is logged and skipped."""
        for receiver in self._receivers:
            producer = self._producer(receiver, timeout)
            if producer is None:
                continue
            wire = seal_report(report, receiver, self._key, self._nonce)
            try:
                producer.send(progress_topic(self._job_id, receiver), value=wire, partition=0)
            except KafkaError as exc:
                log.warning("progress to party %s not sent: %s", receiver, exc)

    def close(self, timeout: float = 5.0) -> None:
        for producer in self._producers.values():
            if producer is not None:
                try:
                    producer.close(timeout=timeout)
                except KafkaError as exc:  # the last reports are lost, not the step
                    log.warning("progress producer did not close cleanly: %s", exc)
        self._producers.clear()

    def _producer(self, receiver: str, timeout: float) -> KafkaProducer | None:
        if receiver not in self._producers:  # tried once: a party not reached at the start gets no reports
            config = self._registry.get(receiver).kafka_config()
            try:
                ensure_topic(config, progress_topic(self._job_id, receiver))
                self._producers[receiver] = KafkaProducer(**config, acks=1, linger_ms=0, max_block_ms=int(timeout * 1000))
            except KafkaError as exc:
                log.warning("progress reports to party %s off: %s", receiver, exc)
                self._producers[receiver] = None
        return self._producers[receiver]


def read_progress(
    registry: PartyRegistry, party_id: str, job_id: str, nonce: bytes, *, tail: int = TAIL, timeout: float = 5.0
) -> dict[tuple[str, str], ProgressReport]:
    """The latest verified report per (party, task) among the last `tail` on this party's progress topic of the run."""
    config = registry.get(party_id).kafka_config()
    topic = progress_topic(job_id, party_id)
    ensure_topic(config, topic)
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100)
    reports: list[ProgressReport] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        end = consumer.end_offsets([partition])[partition]
        consumer.seek(partition, max(0, end - tail))
        deadline = time.monotonic() + timeout
        while consumer.position(partition) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    try:
                        reports.append(open_report(record.value, registry, party_id, job_id, nonce))
                    except MalformedMessage as exc:
                        log.warning("party %s dropped a progress report on %s: %s", party_id, topic, exc)
    finally:
        consumer.close()
    return latest(reports)
