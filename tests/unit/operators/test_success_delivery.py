"""A step's success event waits out a peer's broker restart instead of failing the task (tests/faults found it):
``deliver`` tries a broker it cannot reach again within its timeout, and the step gives a success the longest."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation import kafka_transport
from airflow_provider_powerfl.federation.kafka_transport import deliver
from airflow_provider_powerfl.operators import step
from airflow_provider_powerfl.operators.step import FederatedStepOperator

SPEC = SimpleNamespace(job_id="j", party_id="10000", attempt=1, nonce="0f" * 16, peers=lambda: [SimpleNamespace(id="20000")])
TASK = SimpleNamespace(task_id="train", log=logging.getLogger("test"))
CONFIG = {"bootstrap_servers": ["10.0.2.2:9092"]}


class _Producer:
    """Stands for KafkaProducer: records what was sent; `lost_ack` makes the send's future fail after sending."""

    sent: list[bytes] = []
    lost_ack = False

    def __init__(self, **config: object) -> None:
        pass

    def send(self, topic: str, value: bytes, partition: int) -> SimpleNamespace:
        type(self).sent.append(value)

        def get(timeout: float) -> None:
            if type(self).lost_ack:
                raise KafkaTimeoutError("no ack")

        return SimpleNamespace(get=get)

    def close(self, timeout: float | None = None) -> None:
        pass


def _broker_back_after(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    tries: list[int] = []

    def ensure_topic(config: object, topic: str, *, timeout: float) -> None:
        tries.append(1)
        if len(tries) <= failures:
            raise KafkaConnectionError("Unable to bootstrap")

    _Producer.sent = []
    _Producer.lost_ack = False
    monkeypatch.setattr(kafka_transport, "ensure_topic", ensure_topic)
    monkeypatch.setattr(kafka_transport, "KafkaProducer", _Producer)
    monkeypatch.setattr(kafka_transport, "DELIVERY_RETRY", 0.01)
    return tries


def test_deliver_tries_again_until_the_broker_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    tries = _broker_back_after(monkeypatch, failures=3)
    deliver(CONFIG, "t", b"wire", "an event", timeout=5)
    assert (len(tries), _Producer.sent) == (4, [b"wire"])


def test_deliver_gives_up_after_its_timeout_naming_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    _broker_back_after(monkeypatch, failures=10**6)
    with pytest.raises(FederationError, match=r"cannot deliver an event at \['10.0.2.2:9092'\]: .*Unable to bootstrap"):
        deliver(CONFIG, "t", b"wire", "an event", timeout=0.1)


def test_deliver_does_not_send_again_once_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost ack may hide a delivered message: sending it again could duplicate it."""
    _broker_back_after(monkeypatch, failures=0)
    _Producer.lost_ack = True
    with pytest.raises(FederationError, match="no ack"):
        deliver(CONFIG, "t", b"wire", "an event", timeout=5)
    assert _Producer.sent == [b"wire"]


@pytest.mark.parametrize(("status", "strict", "window"), [("success", True, 180.0), ("running", False, 15.0)])
def test_a_success_gets_the_long_delivery_window(monkeypatch: pytest.MonkeyPatch, status: str, strict: bool, window: float):
    timeouts: list[float] = []
    monkeypatch.setattr(step, "publish_event", lambda *a, nonce, timeout: timeouts.append(timeout))
    FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, status, None, strict=strict)
    assert timeouts == [window]


def test_a_lost_success_fails_the_task_and_other_events_only_log(monkeypatch: pytest.MonkeyPatch) -> None:
    def publish(*args: object, nonce: bytes, timeout: float) -> None:
        raise FederationError("cannot deliver event to party 20000 at ['10.0.2.2:9092']: Unable to bootstrap")

    monkeypatch.setattr(step, "publish_event", publish)
    FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, "running", None)
    with pytest.raises(FederationError, match="Unable to bootstrap"):
        FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, "success", None, strict=True)
