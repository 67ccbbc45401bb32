"""Job invitations against any bytes on a party's invitation topic and any body an allowed initiator signs.

The listener answers InvitationRefused and moves on; any other exception
fails its task before the offset advances, so one poisoned invitation would
stop the party from accepting jobs. What it accepts becomes a DAG run conf:
plain JSON data, fresh, of this party's known pipelines.
"""

from __future__ import annotations

import json
import math
import time
from unittest import mock

import numpy as np
import pytest
from fuzzkit import fuzz, json_values, mutated_bytes, mutated_trees, parses_or_own_error, sendable
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Header, new_nonce, seal
from airflow_provider_powerfl.federation.inbox import MAX_CLOCK_SKEW
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.orchestration.invitation import (
    INVITATION_TAG,
    MAX_AGE,
    Invitation,
    InvitationRefused,
    open_invitation,
    seal_invitation,
)
from airflow_provider_powerfl.orchestration.listener import check_conf_policy
from airflow_provider_powerfl.policy import PartyPolicy

pytestmark = pytest.mark.timeout(120)

JOB, DAG, INITIATOR, ME = "job-fuzz", "powerfl_pipeline_fuzz", "10000", "20000"
KEY = SigningKey.generate()
NONCE = new_nonce()
REGISTRY = PartyRegistry.from_dict(
    {
        "parties": {
            pid: {"role": "guest", "bootstrap_servers": "k:1", "public_key": KEY.public_key.pem()} for pid in (INITIATOR, ME)
        }
    }
)
POLICY = PartyPolicy.parse({"allowed_parties": [INITIATOR], "input_prefixes": ["/data"], "output_dir": "/work"})
CONF = {
    "job_id": JOB,
    "parties": [f"{INITIATOR}=guest", f"{ME}=host"],
    "nonce": NONCE.hex(),
    "common-args": {"max_iter": 5, "train": {"batch_size": 128}},
    "parties-args": {ME: {"inputs": {"data": {"uri": "/data/host.csv", "format": "csv"}}}},
}


def _accept(wire: bytes) -> Invitation:
    """What the listener does before it starts a run (ListenerOperator._answer)."""
    invitation = open_invitation(wire, REGISTRY, ME, policy=POLICY, pipelines={DAG})
    check_conf_policy(invitation, POLICY)
    return invitation


def _opens_or_refused(wire: bytes) -> Invitation | None:
    ok, out = parses_or_own_error(_accept, wire)
    if not ok:
        assert isinstance(out, InvitationRefused), f"{type(out).__name__}: {out}"
        return None
    json.dumps(dict(out.conf), allow_nan=False)  # a DAG run conf
    assert -MAX_CLOCK_SKEW <= time.time() - out.timestamp <= MAX_AGE + 60
    return out


def _signed(body: object, timestamp: float) -> bytes:
    payload = codec.encode_bytes(body)
    header = Header(JOB, 1, INVITATION_TAG, 0, 0, 1, 0, len(payload), INITIATOR, ME, timestamp, NONCE)
    return seal(header, [payload], KEY)


GOOD = seal_invitation(Invitation(JOB, DAG, CONF, INITIATOR, ME), KEY)


def test_the_seed_invitation_is_accepted() -> None:
    assert _opens_or_refused(GOOD) is not None


@fuzz(100)
@given(mutated_bytes(GOOD) | st.binary(max_size=300))
def test_forged_invitation_bytes_are_refused_before_their_body_is_decoded(wire: bytes) -> None:
    with mock.patch.object(codec, "decode", wraps=codec.decode) as decode:
        invitation = _opens_or_refused(wire)
    assert wire == GOOD or (invitation is None and not decode.called)


_confs = st.one_of(
    mutated_trees(CONF, json_values),
    st.dictionaries(st.text(max_size=8), sendable, max_size=4).map(lambda extra: {**CONF, **extra}),  # arrays, bytes, ...
    json_values,
)
_offsets = st.just(0.0) | st.floats(allow_nan=True, allow_infinity=True)


@fuzz(100)
@given(conf=_confs, dag_id=st.just(DAG) | json_values, offset=_offsets)
@example(conf={**CONF, "common-args": np.zeros(2)}, dag_id=DAG, offset=0.0)  # `array or {}` raised ValueError in JobConf
@example(conf={**CONF, "common-args": {"a": b"\x00"}}, dag_id=DAG, offset=0.0)  # bytes in a DAG run conf
@example(conf={**CONF, "parties": 10**5000}, dag_id=DAG, offset=0.0)  # repr() in the error message raised ValueError
@example(conf={**CONF, "common-args": {"max_iter": math.nan}}, dag_id=DAG, offset=0.0)  # no JSON number
@example(conf=CONF, dag_id=DAG, offset=math.nan)  # a NaN timestamp passed the age check
@example(conf=CONF, dag_id=DAG, offset=1e9)  # so did one from the far future, valid for ever
def test_a_signed_invitation_is_plain_fresh_and_known_or_refused(conf: object, dag_id: object, offset: float) -> None:
    _opens_or_refused(_signed({"dag_id": dag_id, "conf": conf}, time.time() + offset))
