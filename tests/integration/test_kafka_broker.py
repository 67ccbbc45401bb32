"""The real brokers scripts/kafka starts: they answer, carry 10 MB records, survive restarts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "scripts" / "kafka"
MiB = 1 << 20
BIG = 16 * MiB  # the brokers' message.max.bytes


def _consume(addr: str, topic: str, n: int, timeout_s: float = 60.0, **client: str) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=addr,
        **client,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=BIG,
        max_partition_fetch_bytes=BIG,
    )
    try:
        consumer.assign([TopicPartition(topic, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                got.extend(r.value for r in records)
        return got
    finally:
        consumer.close()


def _produce(addr: str, topic: str, values: list[bytes], **client: str) -> None:
    producer = KafkaProducer(bootstrap_servers=addr, max_request_size=BIG, acks="all", **client)
    try:
        for v in values:
            producer.send(topic, v).get(timeout=60)
    finally:
        producer.close()


def test_each_broker_is_its_own_one_node_cluster(kafka_brokers: dict[str, str]) -> None:
    cluster_ids = set()
    for name, addr in kafka_brokers.items():
        admin = KafkaAdminClient(bootstrap_servers=addr, client_id=f"test-{name}")
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
        [broker] = cluster["brokers"]
        assert f"{broker['host']}:{broker['port']}" == addr, name
        cluster_ids.add(cluster["cluster_id"])
    assert len(cluster_ids) == len(kafka_brokers)


def test_10_mb_record_round_trip(kafka_brokers: dict[str, str]) -> None:
    addr = kafka_brokers["guest"]
    topic = f"test-big-{uuid.uuid4().hex[:8]}"
    value = os.urandom(10 * MiB)

    _produce(addr, topic, [value])
    [got] = _consume(addr, topic, 1)

    assert len(got) == len(value)
    assert hashlib.sha256(got).digest() == hashlib.sha256(value).digest()


@pytest.fixture
def scratch_broker(kafka_broker_restart: Callable[[str], str]) -> Iterator[str]:
    """The ``scratch`` broker, fresh; removed with its data afterwards."""
    subprocess.run([str(KAFKA_SCRIPT), "down", "scratch", "--clean"], cwd=REPO, check=True)
    try:
        yield kafka_broker_restart("scratch")
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "down", "scratch", "--clean"], cwd=REPO, check=True)


def test_restart_keeps_a_topics_messages(scratch_broker: str, kafka_broker_restart: Callable[[str], str]) -> None:
    topic = "test-restart"
    values = [f"message {i}".encode() for i in range(3)]
    _produce(scratch_broker, topic, values)

    addr = kafka_broker_restart("scratch")

    assert addr == scratch_broker
    assert _consume(addr, topic, len(values)) == values


def test_sasl_broker_serves_its_scram_user_only(kafka_sasl_broker: dict[str, str]) -> None:
    client = dict(kafka_sasl_broker)
    addr = client.pop("bootstrap_servers")
    topic = f"test-sasl-{uuid.uuid4().hex[:8]}"

    _produce(addr, topic, [b"over SCRAM"], **client)
    assert _consume(addr, topic, 1, **client) == [b"over SCRAM"]

    wrong = {**client, "sasl_plain_password": "wrong"}
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=addr, bootstrap_timeout_ms=3000, **wrong)
