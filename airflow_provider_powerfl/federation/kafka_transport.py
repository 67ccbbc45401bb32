"""Kafka transport: each party reads only its own broker; senders produce into the receiver's broker.

A party's inbox for a job is one single-partition topic on its own broker,
so Kafka keeps the order of everything sent to it. The receiver reads the
topic from the beginning, without a consumer group: a restarted reader sees
everything again and the Inbox drops what it already has.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.envelope import Buffer
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.federation.transport import Transport, Wire

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 << 20  # the brokers' message.max.bytes
OWN_BROKER_PROBE_SECONDS = 3.0
HEAD_HEADER = "powerfl"  # record header holding the wire head; the record value is the payload
_TOPIC_ILLEGAL = re.compile(r"[^A-Za-z0-9._-]")
_MAX_TOPIC_LEN = 249

PRODUCER_CONFIG: Mapping[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,  # retries keep order and never duplicate
    "retries": 2**31 - 1,
    "delivery_timeout_ms": 300_000,
    "linger_ms": 5,
    "batch_size": 1 << 20,
    "max_request_size": MAX_MESSAGE_BYTES,
    "max_block_ms": 120_000,
    "compression_type": None,  # ciphertexts and floats do not compress
}
CONSUMER_CONFIG: Mapping[str, Any] = {
    "group_id": None,
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "fetch_max_bytes": 64 << 20,
    "max_partition_fetch_bytes": 64 << 20,
    "fetch_max_wait_ms": 100,
    "receive_buffer_bytes": 4 << 20,
}


def legal_topic(raw: str) -> str:
    """`raw` as a Kafka topic name: illegal characters become '_' plus a hash of `raw` to stay unique."""
    name = _TOPIC_ILLEGAL.sub("_", raw)
    if name != raw or len(name) > _MAX_TOPIC_LEN:
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
        name = f"{name[: _MAX_TOPIC_LEN - 13]}.{digest}"
    return name


def topic_name(job_id: str, party_id: str) -> str:
    """The inbox topic of `party_id` for `job_id`."""
    return legal_topic(f"powerfl.{job_id}.{party_id}")


# A job's inbox matters only while its step runs (a retry re-reads it from the start, minutes
# later): a day's retention, in hour-long segments the broker can drop, keeps every party's
# broker from filling with old jobs' ciphertexts (Kafka's default keeps them a week).
DELIVERY_RETRY = 5.0  # seconds between deliver's tries of a broker it cannot reach

INBOX_TOPIC_CONFIG: Mapping[str, str] = {"retention.ms": str(24 * 3600 * 1000), "segment.ms": str(3600 * 1000)}


def ensure_topic(
    config: Mapping[str, Any], topic: str, topic_config: Mapping[str, str] | None = None, *, timeout: float | None = None
) -> None:
    """Create `topic` (one partition, replication 1, `topic_config`) on the broker `config` points at, if missing;
    `timeout`: seconds to reach the broker (default kafka-python's 30 s, or more against a dropped network)."""
    bounds = {} if timeout is None else {"bootstrap_timeout_ms": max(int(timeout * 1000), 100)}
    admin = KafkaAdminClient(**{**config, **bounds}, client_id=f"powerfl-admin-{topic}")
    try:
        new = NewTopic(topic, num_partitions=1, replication_factor=1, topic_configs=dict(topic_config or {}))
        admin.create_topics([new])
        log.info("created inbox topic %s on %s", topic, config["bootstrap_servers"])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def deliver(config: Mapping[str, Any], topic: str, wire: bytes, what: str, *, timeout: float) -> None:
    """Produce one wire message into partition 0 of `topic` (created if missing) and wait for the ack.

    For one-off messages (status events, invitations); a job's channel keeps its producers. A broker that
    cannot be reached before the message is sent (it is restarting, the network to it is down a moment) is
    tried again every DELIVERY_RETRY seconds within `timeout`; once sent, a lost ack is not retried (the
    message may be there). FederationError says that `what` could not be delivered, and where.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0.1)
        producer = None
        try:
            ensure_topic(config, topic, timeout=left)
            producer = KafkaProducer(**config, acks="all", max_block_ms=int(left * 1000))
            future = producer.send(topic, value=wire, partition=0)  # waits for the topic's metadata: nothing sent yet
        except KafkaError as exc:
            if producer is not None:
                producer.close(timeout=0)
            if time.monotonic() + DELIVERY_RETRY < deadline:
                log.warning("cannot reach %s to deliver %s (%s); trying again", config["bootstrap_servers"], what, exc)
                time.sleep(DELIVERY_RETRY)
                continue
            raise FederationError(f"cannot deliver {what} at {config['bootstrap_servers']}: {exc}") from exc
        try:
            future.get(timeout=max(deadline - time.monotonic(), 0.1))
            return
        except KafkaError as exc:
            raise FederationError(f"cannot deliver {what} at {config['bootstrap_servers']}: {exc}") from exc
        finally:
            producer.close(timeout=max(deadline - time.monotonic(), 0.1))


def _wire(headers: Sequence[tuple[str, bytes | None]] | None, value: bytes | None) -> Wire:
    """(head, payload) of a record; a record without the head header carries the whole wire message."""
    for key, head in headers or ():
        if key == HEAD_HEADER:
            return head or b"", value or b""
    return value or b"", None


def answers(server: str, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    host, _, port = server.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError):
        return False
    return True


def broker_unreachable(servers: Sequence[str], timeout: float = OWN_BROKER_PROBE_SECONDS) -> str | None:
    """Why a broker cannot be used now (no server of it accepts a connection), or None when one answers."""
    if any(answers(server, timeout) for server in servers):
        return None
    return f"broker {','.join(servers)} does not answer"


class KafkaTransport(Transport):
    """Reads `party_id`'s inbox topic on its own broker; publishes into each peer's inbox on the peer's broker."""

    def __init__(
        self,
        registry: PartyRegistry,
        party_id: str,
        job_id: str,
        peers: Sequence[str],
        *,
        producer_config: Mapping[str, Any] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._registry = registry
        self._job_id = job_id
        self._producer_config = {**PRODUCER_CONFIG, **(producer_config or {})}
        self._producers: dict[str, KafkaProducer] = {}
        self._topics = {peer: topic_name(job_id, peer) for peer in peers}
        # per peer: a party's heartbeat thread and main thread may both open a producer, and one
        # stuck on an unreachable broker must not hold the other peers' producers
        self._opening = {peer: threading.Lock() for peer in peers}
        self._ready_topics: set[str] = set()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        own = registry.get(party_id).kafka_config()
        self._own_servers: list[str] = list(own["bootstrap_servers"])
        self.topic = topic_name(job_id, party_id)
        try:
            ensure_topic(own, self.topic, INBOX_TOPIC_CONFIG)
            self._consumer = KafkaConsumer(
                **own, **{**CONSUMER_CONFIG, **(consumer_config or {})}, client_id=f"powerfl-{party_id}"
            )
        except KafkaError as exc:
            raise FederationError(
                f"party {party_id} cannot open its inbox {self.topic} on {own['bootstrap_servers']}: {exc}"
            ) from exc
        partition = TopicPartition(self.topic, 0)
        self._consumer.assign([partition])
        self._consumer.seek_to_beginning(partition)

    def publish(self, dst: str, head: bytes, payload: Buffer) -> None:
        self._raise_failure()
        topic = self._topics.get(dst)
        if topic is None:
            raise FederationError(f"party {dst} is not a peer of this transport (job {self._job_id!r})")
        producer = self._producer(dst, topic)
        # kafka-python copies the value into its batch before send returns, so `payload` may be a view
        future = producer.send(topic, value=payload, headers=[(HEAD_HEADER, head)], partition=0)
        future.add_errback(self._failed, dst)

    def connect(self, dst: str) -> None:
        """Open the producer into `dst`'s broker now rather than on the first publish."""
        self._producer(dst, self._topics[dst])

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for producer in list(self._producers.values()):  # Party's heartbeat thread may open one meanwhile
            try:
                producer.flush(timeout=None if deadline is None else max(deadline - time.monotonic(), 0.0))
            except KafkaTimeoutError:
                self._raise_failure()
                return False
        self._raise_failure()
        return True

    def poll(self, timeout: float) -> Iterable[Wire]:
        batches = self._consumer.poll(timeout_ms=max(int(timeout * 1000), 0))
        return [_wire(record.headers, record.value) for records in batches.values() for record in records]

    def own_inbox_unreachable(self) -> str | None:
        why = broker_unreachable(self._own_servers)
        return None if why is None else f"its own {why} (inbox {self.topic})"

    def close(self, timeout: float | None = None) -> None:
        try:
            if not self.flush(timeout):
                log.warning("job %r: messages to %s still undelivered after %gs; closing without them",
                            self._job_id, sorted(self._producers), timeout)  # fmt: skip
        finally:
            for dst, producer in self._producers.items():
                try:
                    producer.close(timeout=timeout)
                except KafkaError as exc:  # kafka-python's close flushes first and raises if that times out
                    log.warning("job %r: the producer to party %s closed undelivered: %r", self._job_id, dst, exc)
            self._consumer.close()

    def _producer(self, dst: str, topic: str) -> KafkaProducer:
        producer = self._producers.get(dst)
        if producer is None:
            with self._opening[dst]:
                producer = self._producers.get(dst) or self._open_producer(dst, topic)
        return producer

    def _open_producer(self, dst: str, topic: str) -> KafkaProducer:
        config = self._registry.get(dst).kafka_config()
        try:
            ensure_topic(config, topic, INBOX_TOPIC_CONFIG)
        except KafkaError as exc:  # the receiver creates its own inbox too; we may lack the right
            log.warning("could not create inbox %s of party %s (%s); relying on the receiver", topic, dst, exc)
        try:
            producer = KafkaProducer(**config, **self._producer_config)
        except KafkaError as exc:
            raise FederationError(f"cannot reach party {dst}'s broker {config['bootstrap_servers']}: {exc}") from exc
        self._producers[dst] = producer
        return producer

    def _failed(self, exc: BaseException, dst: str) -> None:
        with self._error_lock:
            if self._error is None:
                self._error = FederationError(f"delivery to party {dst} in job {self._job_id!r} failed: {exc!r}")

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
