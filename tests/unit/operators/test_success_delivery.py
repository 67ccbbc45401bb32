"""A step's success event waits out a peer's broker restart instead of failing the task (tests/faults found it)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.operators import step
from airflow_provider_powerfl.operators.step import FederatedStepOperator

SPEC = SimpleNamespace(job_id="j", party_id="10000", attempt=1, nonce="0f" * 16, peers=lambda: [SimpleNamespace(id="20000")])
TASK = SimpleNamespace(task_id="train", log=logging.getLogger("test"))


def _broker_back_after(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    sent: list[str] = []

    def publish(registry, signer, event, receivers, *, nonce):
        sent.append(event.status)
        if len(sent) <= failures:
            raise FederationError("cannot deliver event to party 20000 at ['10.0.2.2:9092']: Unable to bootstrap")

    monkeypatch.setattr(step, "publish_event", publish)
    monkeypatch.setattr(step, "_DELIVERY_RETRY", 0.01)
    return sent


def test_a_success_is_delivered_once_the_peers_broker_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _broker_back_after(monkeypatch, failures=3)
    FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, "success", None, strict=True)
    assert sent == ["success"] * 4


def test_a_success_that_cannot_be_delivered_in_the_window_fails_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    _broker_back_after(monkeypatch, failures=10**6)
    monkeypatch.setattr(step, "SUCCESS_DELIVERY_WINDOW", 0.1)
    with pytest.raises(FederationError, match="Unable to bootstrap"):
        FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, "success", None, strict=True)


def test_other_events_are_tried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _broker_back_after(monkeypatch, failures=1)
    FederatedStepOperator._tell_peers(TASK, None, "key", SPEC, "running", None)
    assert sent == ["running"]
