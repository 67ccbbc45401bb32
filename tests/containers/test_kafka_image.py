"""The Kafka image: its KRaft broker starts in a container and the federation channel talks through it."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest
from kafka.admin import KafkaAdminClient

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry
from tests.containers.engine import GUEST, HOST, Containers, docker

pytestmark = pytest.mark.integration


def parties_on(brokers: dict[str, str]) -> dict[str, Party]:
    """Guest and host of a fresh job, each reading its own broker."""
    keys = {party: SigningKey.generate() for party in brokers}
    registry = PartyRegistry.from_dict(
        {
            "parties": {
                party: {"role": "guest" if party == GUEST else "host", "bootstrap_servers": address,
                        "public_key": keys[party].public_key.pem()}
                for party, address in brokers.items()
            }
        }
    )  # fmt: skip
    job, nonce = f"ct-{uuid.uuid4().hex[:10]}", new_nonce()
    return {party: Party.from_registry(registry, party, keys[party], job, 1, nonce=nonce) for party in brokers}


@pytest.mark.timeout(600)
def test_brokers_in_containers_carry_the_channel(container_brokers: tuple[Containers, dict[str, str]]) -> None:
    started, brokers = container_brokers
    admin = KafkaAdminClient(bootstrap_servers=brokers[GUEST], client_id="container-test")
    try:
        [broker] = admin.describe_cluster()["brokers"]
    finally:
        admin.close()
    assert f"{broker['host']}:{broker['port']}" == brokers[GUEST]  # it advertises the address it is reached at
    assert docker("exec", f"{started.prefix}-kafka-guest", "id", "-u") == "1000"  # not root

    parties = parties_on(brokers)
    array = np.random.default_rng(5).random(1 << 20)  # 8 MiB of float64: several records
    errors: list[BaseException] = []

    def send() -> None:
        try:
            parties[GUEST].send(HOST, "weights", {"w": array, "round": 3})
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        got = parties[HOST].recv(GUEST, "weights", timeout=120)
        parties[HOST].send(GUEST, "ack", "ok")
        assert parties[GUEST].recv(HOST, "ack", timeout=60) == "ok"
        thread.join(60)
    finally:
        for party in parties.values():
            party.close()
    assert not errors
    assert got["round"] == 3
    np.testing.assert_array_equal(got["w"], array)
