"""Status events against any bytes on a party's event topic and any body a registered peer signs.

The event reader drops what open_event refuses (MalformedMessage or
ConfigError); whatever it accepts is a well-typed, fresh event of this run.
"""

from __future__ import annotations

import math
import time
from unittest import mock

import pytest
from fuzzkit import fuzz, json_values, mutated_bytes, parses_or_own_error
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Header, new_nonce, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.events import (
    EVENT_MAX_AGE,
    EVENT_TAG,
    MAX_CLOCK_SKEW,
    STATUSES,
    StatusEvent,
    open_event,
)
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

pytestmark = pytest.mark.timeout(120)

JOB, SENDER, RECEIVER = "job-fuzz", "10000", "20000"
KEY = SigningKey.generate()
NONCE = new_nonce()
PEM = KEY.public_key.pem()  # both parties' entries: one key signs as the sender
REGISTRY = PartyRegistry.from_dict(
    {"parties": {pid: {"role": "guest", "bootstrap_servers": "k:1", "public_key": PEM} for pid in (SENDER, RECEIVER)}}
)


def _event_wire(body: object, timestamp: float | None = None) -> bytes:
    payload = codec.encode_bytes(body)
    now = time.time() if timestamp is None else timestamp
    header = Header(JOB, 1, EVENT_TAG, 0, 0, 1, 0, len(payload), SENDER, RECEIVER, now, NONCE)
    return seal(header, [payload], KEY)


def _opens_or_refuses(wire: bytes) -> StatusEvent | None:
    ok, out = parses_or_own_error(open_event, wire, REGISTRY, RECEIVER, JOB, NONCE)
    if not ok:
        assert isinstance(out, (MalformedMessage, ConfigError)), f"{type(out).__name__}: {out}"  # what the reader drops
        return None
    assert isinstance(out.task, str) and out.status in STATUSES and isinstance(out.reason, (str, type(None)))
    assert -MAX_CLOCK_SKEW <= time.time() - out.timestamp <= EVENT_MAX_AGE + 60
    return out


GOOD = {"task": "train", "status": "success", "reason": None, "attempt": 1}


def test_the_seed_event_opens() -> None:
    assert _opens_or_refuses(_event_wire(GOOD)) is not None


@fuzz(150)
@given(st.data())
def test_forged_event_bytes_are_refused_before_their_body_is_decoded(data: st.DataObject) -> None:
    wire = _event_wire(GOOD)
    forged = data.draw(mutated_bytes(wire) | st.binary(max_size=300))
    with mock.patch.object(codec, "decode", wraps=codec.decode) as decode:
        event = _opens_or_refuses(forged)
    assert forged == wire or (event is None and not decode.called)


_bodies = st.fixed_dictionaries(
    {},
    optional={
        "task": st.text(max_size=8) | json_values,
        "status": st.sampled_from(STATUSES) | json_values,
        "reason": st.none() | st.text(max_size=8) | json_values | st.binary(max_size=8),
        "attempt": json_values,
    },
)


@fuzz(150)
@given(body=_bodies | json_values, offset=st.floats(allow_nan=True, allow_infinity=True) | st.just(0.0))
@example(body=GOOD, offset=math.nan)  # a NaN timestamp passed both age checks
@example(body={**GOOD, "reason": b"\x00"}, offset=0.0)  # a reason that is not text reached the sensor's JSON
@example(body={**GOOD, "reason": {"a": [1]}}, offset=0.0)
def test_a_signed_event_is_well_typed_and_fresh_or_refused(body: object, offset: float) -> None:
    _opens_or_refuses(_event_wire(body, time.time() + offset))
