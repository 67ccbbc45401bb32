"""The federation channel over real Kafka brokers: each party reads only its own broker."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from airflow_provider_powerfl.federation.envelope import new_nonce, open_envelope, seal, sign_head
from airflow_provider_powerfl.federation.errors import PeerSilent, RecvTimeout
from airflow_provider_powerfl.federation.kafka_transport import HEAD_HEADER, topic_name
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry

pytestmark = pytest.mark.integration

GUEST, HOST = "10000", "20000"


def make_parties(
    brokers: Mapping[str, str], security: Mapping[str, Mapping[str, Any]] | None = None, **options: Any
) -> tuple[dict[str, Party], dict[str, SigningKey], PartyRegistry]:
    """Guest and host of a fresh job; `brokers` maps party id -> its own broker."""
    keys = {party: SigningKey.generate() for party in brokers}
    registry = PartyRegistry.from_dict(
        {
            "parties": {
                party: {
                    "role": "guest" if party == GUEST else "host",
                    "bootstrap_servers": address,
                    "public_key": keys[party].public_key.pem(),
                    "security": dict((security or {}).get(party, {})),
                }
                for party, address in brokers.items()
            }
        }
    )
    job, nonce = f"it-{uuid.uuid4().hex[:10]}", new_nonce()
    parties = {party: Party.from_registry(registry, party, keys[party], job, 1, nonce=nonce, **options) for party in brokers}
    return parties, keys, registry


def in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_64_mb_array_crosses_two_brokers_intact(kafka_brokers: dict[str, str]) -> None:
    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]})
    array = np.random.default_rng(3).random(8 << 20)  # 64 MiB of float64
    thread, errors = in_thread(lambda: parties[GUEST].send(HOST, "weights", {"w": array, "round": 1}))
    try:
        got = parties[HOST].recv(GUEST, "weights", timeout=120)
        thread.join(60)
        assert not errors
        assert got["round"] == 1
        np.testing.assert_array_equal(got["w"], array)
        assert not parties[HOST].inbox.rejected
    finally:
        for party in parties.values():
            party.close()


def _topic_records(address: str, topic: str) -> list[bytes]:
    """Every record of `topic` as one joined wire message (head header + payload value)."""
    consumer = KafkaConsumer(bootstrap_servers=[address], group_id=None, auto_offset_reset="earliest")
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    records: list[bytes] = []
    while consumer.position(partition) < end:
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(dict(record.headers).get(HEAD_HEADER, b"") + record.value for record in batch)
    consumer.close()
    return records


def test_forged_replayed_and_stale_messages_injected_into_the_topic_are_refused(kafka_brokers: dict[str, str]) -> None:
    host_broker = kafka_brokers["host"]
    parties, keys, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: host_broker})
    guest, host = parties[GUEST], parties[HOST]
    topic = topic_name(guest.job_id, HOST)
    try:
        guest.send(HOST, "t", "real-1")
        guest.transport.flush()
        (wire,) = [w for w in _topic_records(host_broker, topic) if open_envelope(w).header.tag == "t"]  # not heartbeats
        header = open_envelope(wire).header
        payload = [open_envelope(wire).payload]
        intruder = SigningKey.generate()
        injected = [
            wire,  # replay of the exact bytes
            seal(dataclasses.replace(header, seq=1), payload, intruder),  # forged guest signature
            seal(dataclasses.replace(header, seq=1, sender="66666"), payload, intruder),  # unknown sender
            seal(dataclasses.replace(header, seq=1, attempt=0), payload, keys[GUEST]),  # stale attempt
            seal(dataclasses.replace(header, seq=1, job_id="other-job"), payload, keys[GUEST]),  # wrong job
            seal(dataclasses.replace(header, seq=1, timestamp=time.time() - 86400), payload, keys[GUEST]),
            b"not a wire message",
        ]
        raw = KafkaProducer(bootstrap_servers=[host_broker], max_request_size=16 << 20)
        for value in injected:  # joined wire messages in the record value
            raw.send(topic, value=value, partition=0)
        forged_head = sign_head(dataclasses.replace(header, seq=1), payload, intruder)  # head in a record header
        raw.send(topic, value=bytes(payload[0]), headers=[(HEAD_HEADER, forged_head)], partition=0)
        raw.flush()
        raw.close()
        guest.send(HOST, "t", "real-2")

        assert host.recv(GUEST, "t", timeout=60) == "real-1"
        assert host.recv(GUEST, "t", timeout=60) == "real-2"
        with pytest.raises(RecvTimeout):
            host.recv(GUEST, "t", timeout=1)
        assert host.inbox.duplicates == 1
        assert host.inbox.rejected == {
            "bad signature": 2,
            "unknown sender": 1,
            "stale attempt": 1,
            "wrong job": 1,
            "too old": 1,
            "malformed": 1,
        }
    finally:
        for party in parties.values():
            party.close()


def test_receiver_broker_restart_mid_stream_loses_and_duplicates_nothing(
    kafka_brokers: dict[str, str], kafka_broker_restart: Callable[[str], str]
) -> None:
    scratch = kafka_broker_restart("scratch")  # the receiver's own broker, restarted only by this test
    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: scratch}, chunk_size=256 << 10)
    guest, host = parties[GUEST], parties[HOST]
    count = 40
    restarting = threading.Event()

    def stream() -> None:
        for i in range(count):
            guest.send(HOST, "stream", np.full(100_000, i, dtype=np.int64))  # 800 kB: 4 slices + header
            if i == 9:  # the rest is produced while the receiver's broker goes down and comes back
                assert restarting.wait(60)
            time.sleep(0.05)
        guest.transport.flush()

    thread, errors = in_thread(stream)
    try:
        got = [host.recv(GUEST, "stream", timeout=60) for _ in range(5)]
        restarting.set()
        kafka_broker_restart("scratch")
        got += [host.recv(GUEST, "stream", timeout=180) for _ in range(count - 5)]
        thread.join(180)
        assert not errors
        assert [int(array[0]) for array in got] == list(range(count))
        assert all((array == i).all() and array.shape == (100_000,) for i, array in enumerate(got))
        with pytest.raises(RecvTimeout):
            host.recv(GUEST, "stream", timeout=2)
        assert not host.inbox.rejected
    finally:
        for party in parties.values():
            party.close()


def test_timeout_names_peer_job_and_tag(kafka_brokers: dict[str, str]) -> None:
    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]})
    try:
        with pytest.raises(RecvTimeout) as info:
            parties[HOST].recv(GUEST, "never-sent", timeout=1.5)
        message = str(info.value)
        for word in (GUEST, HOST, parties[HOST].job_id, "never-sent"):
            assert word in message
    finally:
        for party in parties.values():
            party.close()


def test_heartbeats_cross_both_brokers_and_a_silenced_peer_is_noticed(kafka_brokers: dict[str, str]) -> None:
    """A host that computes past the silence timeout is waited for; once it stops, the guest fails within it."""
    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}, silence_timeout=3.0)
    guest, host = parties[GUEST], parties[HOST]
    try:
        host.send(GUEST, "hello", 1)
        assert guest.recv(HOST, "hello", timeout=60) == 1
        answer = threading.Timer(7.5, lambda: host.send(GUEST, "result", 42))  # 2.5 silence timeouts of work
        answer.start()
        assert guest.recv(HOST, "result", timeout=60) == 42
        answer.join()
        host.close()  # no failure notice, no more heartbeats: a killed host, as far as the guest can tell
        start = time.monotonic()
        with pytest.raises(PeerSilent, match=f"party {HOST} has sent nothing"):
            guest.recv(HOST, "gradient", timeout=600)
        assert time.monotonic() - start < 30
    finally:
        for party in parties.values():
            party.close()


def test_sasl_scram_settings_pass_through_to_kafka(kafka_brokers: dict[str, str], kafka_sasl_broker: dict[str, str]) -> None:
    secure = dict(kafka_sasl_broker)
    address = secure.pop("bootstrap_servers")
    security = {
        HOST: {
            "security_protocol": secure["security_protocol"],
            "sasl_mechanism": secure["sasl_mechanism"],
            "sasl_username": secure["sasl_plain_username"],
            "sasl_password": secure["sasl_plain_password"],
        }
    }
    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: address}, security=security)
    try:
        parties[GUEST].send(HOST, "hello", {"over": "sasl"})
        assert parties[HOST].recv(GUEST, "hello", timeout=60) == {"over": "sasl"}
        parties[HOST].send(GUEST, "back", [1, 2])
        assert parties[GUEST].recv(HOST, "back", timeout=60) == [1, 2]
    finally:
        for party in parties.values():
            party.close()


def test_a_jobs_inboxes_are_created_with_a_days_retention(kafka_brokers: dict[str, str]) -> None:
    """Old jobs' ciphertexts must not fill a party's broker: each inbox keeps a day, in droppable hour segments."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    parties, _, _ = make_parties({GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]})
    guest, host = parties[GUEST], parties[HOST]
    try:
        guest.send(HOST, "hello", 1)  # the guest's producer creates the host's inbox if it is not there yet
        assert host.recv(GUEST, "hello", timeout=60) == 1
        for party, broker in ((GUEST, kafka_brokers["guest"]), (HOST, kafka_brokers["host"])):
            admin = KafkaAdminClient(bootstrap_servers=broker)
            try:
                topic = topic_name(guest.job_id, party)
                configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
            finally:
                admin.close()
            assert configs["retention.ms"]["value"] == "86400000", (party, configs)
            assert configs["segment.ms"]["value"] == "3600000", (party, configs)
    finally:
        guest.close()
        host.close()
