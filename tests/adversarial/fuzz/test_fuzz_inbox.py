"""The receiving inbox against forgers, replayers and a dishonest peer that signs whatever it likes.

Verification here is the Ed25519 signature: before it, accept may read the
header only (no buffer taken from the pool, nothing decoded); after it, a
peer's own signed claims (sizes, offsets, counts, clock) are still checked,
and accept never raises whatever arrives.
"""

from __future__ import annotations

import dataclasses
import math
import time
from unittest import mock

import pytest
from fuzzkit import INTERESTING_U64, fuzz, mutated_bytes, sendable
from hypothesis import assume, example, given, strategies as st

from airflow_provider_powerfl.federation import codec, inbox as inbox_module
from airflow_provider_powerfl.federation.envelope import open_envelope, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage, PeerFailed
from airflow_provider_powerfl.federation.inbox import DEFAULT_MAX_AGE, MAX_CLOCK_SKEW
from airflow_provider_powerfl.federation.memory import memory_parties
from airflow_provider_powerfl.federation.party import FAILED_TAG

pytestmark = pytest.mark.timeout(120)

GUEST, HOST, TAG = "10000", "20000", "t"
_U32 = 0xFFFFFFFF


def _sent(objects: list[object], chunk_size: int = 48) -> tuple[list[bytes], object, object]:
    """The wire messages the guest sends the host for `objects`, the host's inbox and the guest's party."""
    wires: list[bytes] = []
    parties = memory_parties("job-fuzz", {GUEST: "guest", HOST: "host"}, capture=wires, chunk_size=chunk_size)
    for obj in objects:
        parties[GUEST].send(HOST, TAG, obj)
    return wires, parties[HOST].inbox, parties[GUEST]


def _drain(inbox: object, tag: str = TAG, limit: int = 16) -> list[object]:
    """Everything that pops from the guest on `tag`; a body that does not decode must be MalformedMessage."""
    out = []
    for _ in range(limit):
        try:
            found, obj = inbox.pop(GUEST, tag)
        except MalformedMessage:
            continue
        if not found:
            break
        out.append(obj)
    return out


@fuzz(80)
@given(st.data())
def test_forged_and_replayed_chunks_change_nothing_the_receiver_gets(data: st.DataObject) -> None:
    objects = data.draw(st.lists(sendable, min_size=1, max_size=3), label="objects")
    wires, inbox, _ = _sent(objects)
    forged = data.draw(st.lists(st.sampled_from(wires).flatmap(mutated_bytes) | st.sampled_from(wires), max_size=12))
    for wire in data.draw(st.permutations(forged + wires), label="delivery order"):
        inbox.accept(wire)  # never raises
    assert [codec.encode_bytes(obj) for obj in _drain(inbox)] == [codec.encode_bytes(obj) for obj in objects]


@fuzz(80)
@given(st.data())
def test_unsigned_bytes_are_neither_buffered_nor_decoded(data: st.DataObject) -> None:
    wires, inbox, _ = _sent(data.draw(st.lists(sendable, min_size=1, max_size=2), label="objects"))
    forged = data.draw(st.lists(st.sampled_from(wires).flatmap(mutated_bytes) | st.binary(max_size=300), min_size=1, max_size=10))
    assume(not set(forged) & set(wires))
    with mock.patch.object(inbox_module, "POOL") as pool, mock.patch.object(codec, "decode") as decode:
        for wire in forged:
            inbox.accept(wire)
        assert inbox.pop(GUEST, TAG) == (False, None)
    pool.take.assert_not_called()
    decode.assert_not_called()
    assert sum(inbox.rejected.values()) + inbox.duplicates == len(forged)


_u32 = st.integers(0, _U32) | st.sampled_from([n & _U32 for n in INTERESTING_U64])
_u64 = st.integers(0, 1 << 10) | st.sampled_from(INTERESTING_U64)


@fuzz(100)
@given(st.data())
def test_a_peer_signing_any_header_and_body_cannot_make_accept_raise(data: st.DataObject) -> None:
    """The guest holds its key and lies in its own signed headers: sizes, offsets, chunk counts, tags."""
    wires, inbox, guest = _sent([b"x"])
    template = open_envelope(wires[0]).header
    for _ in range(data.draw(st.integers(1, 6), label="messages")):
        header = dataclasses.replace(
            template,
            tag=data.draw(st.sampled_from([TAG, "u"])),
            seq=data.draw(st.integers(0, 3) | _u64),
            chunk_index=data.draw(st.integers(0, 3) | _u32),
            chunk_count=data.draw(st.integers(1, 4) | _u32),
            offset=data.draw(_u64),
            total_size=data.draw(_u64),
        )
        body = data.draw(st.binary(max_size=64) | sendable.map(codec.encode_bytes), label="body")
        inbox.accept(seal(header, [body], guest._key))  # never raises
    for tag in (TAG, "u"):
        _drain(inbox, tag)


@fuzz(40)
@given(total_size=st.sampled_from([1 << 40, 1 << 48, (1 << 63) - 1, (1 << 64) - 1]))
@example(total_size=(1 << 64) - 1)  # np.empty raised "array is too big" out of accept
def test_a_signed_claim_of_a_huge_message_is_refused_before_a_buffer_is_taken(total_size: int) -> None:
    wires, inbox, guest = _sent([b"x"])
    header = dataclasses.replace(open_envelope(wires[0]).header, total_size=total_size)
    with mock.patch.object(inbox_module, "POOL") as pool:
        inbox.accept(seal(header, [b"x"], guest._key))
    pool.take.assert_not_called()
    assert inbox.rejected


@fuzz(60)
@given(offset=st.floats(allow_nan=True, allow_infinity=True))
@example(offset=math.nan)  # every comparison with NaN is false: a NaN timestamp passed both age checks
@example(offset=math.inf)
@example(offset=-math.inf)
def test_only_timestamps_inside_the_age_window_are_accepted(offset: float) -> None:
    margin = 60.0  # clear of the window's edges, whatever the clock did meanwhile
    assume(math.isnan(offset) or not (-DEFAULT_MAX_AGE - margin < offset < -DEFAULT_MAX_AGE + margin))
    assume(math.isnan(offset) or not (MAX_CLOCK_SKEW - margin < offset < MAX_CLOCK_SKEW + margin))
    wires, inbox, guest = _sent([b"x"])
    header = dataclasses.replace(open_envelope(wires[0]).header, timestamp=time.time() + offset)
    inbox.accept(seal(header, [codec.encode_bytes(b"x")], guest._key))
    fresh = -DEFAULT_MAX_AGE < offset < MAX_CLOCK_SKEW
    assert inbox.pop(GUEST, TAG) == ((True, b"x") if fresh else (False, None))


@fuzz(40)
@given(sendable | st.fixed_dictionaries({"error": sendable}))
@example({"error": 10**5000})  # str() of an int past 4300 digits raised ValueError out of recv
def test_a_failure_notice_of_any_shape_ends_recv_with_peer_failed(notice: object) -> None:
    """A peer's failure notice carries its error's class name; whatever it holds, the receiver stops with PeerFailed."""
    parties = memory_parties("job-fuzz", {GUEST: "guest", HOST: "host"})
    parties[GUEST].send(HOST, FAILED_TAG, notice)
    with pytest.raises(PeerFailed):
        parties[HOST].recv(GUEST, TAG, timeout=5)
