"""PSI and the joint query between parties on their own real Kafka brokers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.alignment import align
from airflow_provider_powerfl.algorithms.alignment.joint_query import query_rows, serve_rows
from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry

pytestmark = pytest.mark.integration

GUEST, HOST, HOST2 = "10000", "20000", "30000"
BROKER_OF = {GUEST: "guest", HOST: "host", HOST2: "host2"}
TIMEOUT = 120.0


def _parties(kafka_brokers: Mapping[str, str], party_ids: list[str]) -> dict[str, Party]:
    keys = {p: SigningKey.generate() for p in party_ids}
    registry = PartyRegistry.from_dict(
        {
            "parties": {
                p: {
                    "role": "guest" if p == GUEST else "host",
                    "bootstrap_servers": kafka_brokers[BROKER_OF[p]],
                    "public_key": keys[p].public_key.pem(),
                }
                for p in party_ids
            }
        }
    )
    job, nonce = f"it-psi-{uuid.uuid4().hex[:10]}", new_nonce()
    return {p: Party.from_registry(registry, p, keys[p], job, 1, nonce=nonce) for p in party_ids}


def _run(parties: dict[str, Party], work: Mapping[str, Callable[[Party], object]]) -> dict[str, object]:
    out: dict[str, object] = {}

    def go(p: str) -> None:
        try:
            out[p] = work[p](parties[p])
        except BaseException as err:  # re-raised by the test thread
            out[p] = err

    threads = [threading.Thread(target=go, args=(p,), daemon=True) for p in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    for party in parties.values():
        party.close()
    for p, value in out.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"party {p} failed") from value
    assert set(out) == set(work), "a party never finished"
    return out


def _ids(party_id: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(int(party_id))
    return rng.choice(3 * n, size=n, replace=True)  # duplicates included


@pytest.mark.parametrize("protocol", ["ecdh", "rsa"])
def test_two_parties_on_their_own_brokers(kafka_brokers: dict[str, str], protocol: str) -> None:
    inputs = {GUEST: _ids(GUEST, 3000), HOST: _ids(HOST, 3000)}
    parties = _parties(kafka_brokers, [GUEST, HOST])
    out = _run(
        parties,
        {
            p: (lambda party, ids=inputs[p]: align(party, ids, protocol=protocol, batch_size=500, timeout=TIMEOUT))
            for p in parties
        },
    )
    expected = set(inputs[GUEST].tolist()) & set(inputs[HOST].tolist())
    assert set(out[GUEST].ids.tolist()) == expected
    assert out[GUEST].ids.tolist() == out[HOST].ids.tolist()


def test_three_parties_ids_and_size(kafka_brokers: dict[str, str]) -> None:
    ids = [GUEST, HOST, HOST2]
    inputs = {p: _ids(p, 2000) for p in ids}
    expected = set.intersection(*(set(v.tolist()) for v in inputs.values()))
    out = _run(_parties(kafka_brokers, ids), {p: (lambda party, x=inputs[p]: align(party, x, timeout=TIMEOUT)) for p in ids})
    assert set(out[GUEST].ids.tolist()) == expected
    assert out[GUEST].ids.tolist() == out[HOST].ids.tolist() == out[HOST2].ids.tolist()
    out = _run(
        _parties(kafka_brokers, ids),
        {p: (lambda party, x=inputs[p]: align(party, x, reveal="size", timeout=TIMEOUT)) for p in ids},
    )
    assert {r.size for r in out.values()} == {len(expected)}
    assert all(r.ids is None for r in out.values())


def test_joint_query_over_kafka(kafka_brokers: dict[str, str]) -> None:
    host_ids = [f"acct-{i}" for i in range(500)]
    host_rows = np.arange(500 * 3, dtype=float).reshape(500, 3)
    asked = ["acct-3", "acct-999", "acct-499"]
    out = _run(
        _parties(kafka_brokers, [GUEST, HOST]),
        {
            GUEST: lambda party: query_rows(party, HOST, asked, timeout=TIMEOUT),
            HOST: lambda party: serve_rows(party, GUEST, host_ids, host_rows, timeout=TIMEOUT),
        },
    )
    assert out[HOST] == 3
    assert out[GUEST].found.tolist() == [True, False, True]
    assert np.array_equal(out[GUEST].rows[[0, 2]], host_rows[[3, 499]])
