"""The wire codec against what a peer can put in a message body: any bytes decode or raise MalformedMessage.

The body is signed, so these bytes come from a registered but dishonest peer:
decode must not trust a declared length, shape, width or dtype before the
buffer shows the bytes are there.
"""

from __future__ import annotations

import struct

import pytest
from fuzzkit import INTERESTING_U64, fuzz, mutated_bytes, parses_or_own_error, peak_allocation, sendable
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.errors import MalformedMessage

pytestmark = pytest.mark.timeout(120)


def _array_head(tag: bytes, shape: tuple[int, ...], tail: bytes) -> bytes:
    return tag + bytes([len(shape)]) + b"".join(struct.pack("<Q", n) for n in shape) + tail


def _f8_array(shape: tuple[int, ...], data: bytes = b"") -> bytes:
    head = _array_head(b"a", shape, b"\x03<f8")
    return head + bytes((-len(head)) % 16) + data


def _unsigned_intvec(shape: tuple[int, ...], width: int, data: bytes = b"") -> bytes:
    return _array_head(b"v", shape, struct.pack("<IB", width, 0)) + data


def _decodes_or_refuses(buf: bytes) -> None:
    ok, out = parses_or_own_error(codec.decode, bytearray(buf))
    if not ok:
        assert isinstance(out, MalformedMessage), f"{type(out).__name__} is not MalformedMessage: {out}"


@fuzz(50)
@given(sendable)
def test_every_sendable_object_round_trips_to_the_same_bytes(obj: object) -> None:
    wire = codec.encode_bytes(obj)
    assert codec.encode_bytes(codec.decode(bytearray(wire))) == wire


_TAGS = [bytes([t]) for t in b"NTFiIfbsltdav"]


@fuzz(300)
@given(st.binary(max_size=200) | st.builds(bytes.__add__, st.sampled_from(_TAGS), st.binary(max_size=200)))
@example(b"l" + struct.pack("<Q", 1 << 40))  # a list declaring 2^40 items
@example(b"l\x01\x00\x00\x00\x00\x00\x00\x00" * 70 + b"N")  # nested past the depth limit
def test_random_bytes_decode_or_raise_malformed_message(buf: bytes) -> None:
    _decodes_or_refuses(buf)


@fuzz(100)
@given(st.data())
def test_mutated_encodings_decode_or_raise_malformed_message(data: st.DataObject) -> None:
    wire = codec.encode_bytes(data.draw(sendable, label="object"))
    _decodes_or_refuses(data.draw(mutated_bytes(wire), label="mutated"))


@fuzz(60)
@given(
    tag=st.sampled_from(["array", "intvec"]),
    shape=st.lists(st.sampled_from(INTERESTING_U64), min_size=0, max_size=4).map(tuple),
    width=st.sampled_from([1, 8, 512, (1 << 32) - 1]),
)
@example(tag="array", shape=(1 << 40,), width=1)  # 2^40 doubles declared, none sent
@example(tag="intvec", shape=(1 << 40,), width=512)  # 2^40 ciphertexts declared, none sent
@example(tag="array", shape=(1,) * 100, width=1)  # more dimensions than numpy has: ValueError escaped
@example(tag="array", shape=(0, (1 << 64) - 1), width=1)  # empty, but a dimension past numpy's: ValueError escaped
@example(tag="intvec", shape=(0, 1 << 63), width=1)
def test_declared_shapes_are_refused_before_anything_is_allocated(tag: str, shape: tuple[int, ...], width: int) -> None:
    """A header may claim any shape; decode allocates in proportion to the bytes it was given, not the claim."""
    body = bytes(64)
    buf = _f8_array(shape, body) if tag == "array" else _unsigned_intvec(shape, width, body)
    _decodes_or_refuses(buf)
    # object arrays hold one mpz (~40 bytes) per byte of width-1 data at most
    assert peak_allocation(lambda: codec.decode(bytearray(buf))) < 64 * len(buf) + (64 << 10)


@fuzz(40)
@given(st.binary(min_size=1, max_size=40))
@example(b"<i4 ")
@example(b"(2,)<i4")
@example(b"[(")
def test_any_dtype_string_is_a_numeric_dtype_or_refused(dtype: bytes) -> None:
    head = b"a\x01" + struct.pack("<Q", 1) + bytes([len(dtype)]) + dtype
    _decodes_or_refuses(head + bytes((-len(head)) % 16) + bytes(32))
