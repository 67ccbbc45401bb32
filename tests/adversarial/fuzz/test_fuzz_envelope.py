"""The envelope against any bytes on the wire: it opens or raises MalformedMessage, and only the signed bytes verify.

open_envelope reads the header only (it never decodes the body), so these
bytes may come from anyone who can write to the receiver's Kafka topic.
"""

from __future__ import annotations

import pytest
from fuzzkit import fuzz, mutated_bytes, parses_or_own_error, sendable
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.federation.envelope import MAGIC, SIGNATURE_SIZE, open_envelope
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.memory import memory_parties

pytestmark = pytest.mark.timeout(120)

_WIRES: list[bytes] = []
_PARTIES = memory_parties("job-fuzz", {"10000": "guest", "20000": "host"}, capture=_WIRES, chunk_size=40)
_KEY = _PARTIES["10000"]._key.public_key  # the sender's, as the receiver's registry holds it


def _wires_of(obj: object) -> list[bytes]:
    start = len(_WIRES)
    _PARTIES["10000"].send("20000", "t", obj)
    return _WIRES[start:]


def _opens_or_refuses(wire: bytes, payload: bytes | None = None) -> object:
    ok, out = parses_or_own_error(open_envelope, wire, payload)
    if not ok:
        assert isinstance(out, MalformedMessage), f"{type(out).__name__} is not MalformedMessage: {out}"
        return None
    return out


@fuzz(200)
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda tail: MAGIC + tail))
@example(MAGIC + b"\xff\xff" + bytes(SIGNATURE_SIZE))  # a header length past the end
@example(MAGIC + b"\x00\x00" + bytes(SIGNATURE_SIZE))  # an empty header
def test_random_bytes_open_or_raise_malformed_message_and_never_verify(wire: bytes) -> None:
    envelope = _opens_or_refuses(wire)
    if envelope is not None:
        assert envelope.verify(_KEY) is False


@fuzz(150)
@given(st.data())
def test_a_mutated_signed_message_opens_or_is_malformed_and_verifies_only_unchanged(data: st.DataObject) -> None:
    wire = data.draw(st.sampled_from(_wires_of(data.draw(sendable, label="object"))), label="chunk")
    assert open_envelope(wire).verify(_KEY)
    forged = data.draw(mutated_bytes(wire), label="forged")
    envelope = _opens_or_refuses(forged)
    if envelope is not None:
        assert envelope.verify(_KEY) is (forged == wire)


@fuzz(100)
@given(st.data())
def test_a_head_and_payload_apart_open_or_are_malformed_and_verify_only_unchanged(data: st.DataObject) -> None:
    """Kafka carries the head as a record header and the payload as the value: either may be forged alone."""
    wire = data.draw(st.sampled_from(_wires_of(data.draw(sendable, label="object"))), label="chunk")
    head_size = len(wire) - len(open_envelope(wire).payload)
    head, payload = wire[:head_size], wire[head_size:]
    forged_head = data.draw(st.just(head) | mutated_bytes(head), label="head")
    forged_payload = data.draw(st.just(payload) | mutated_bytes(payload), label="payload")
    envelope = _opens_or_refuses(forged_head, forged_payload)
    if envelope is not None:
        assert envelope.verify(_KEY) is (forged_head == head and forged_payload == payload)
