from __future__ import annotations

import time

import numpy as np
import pytest

from airflow_provider_powerfl.federation.envelope import Header, new_nonce, open_envelope, seal, sign_head, split
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.keys import SigningKey


def _header(total: int = 4) -> Header:
    return Header("job-1", 1, "t", 0, 0, 1, 0, total, "10000", "20000", time.time(), new_nonce())


def test_head_and_payload_apart_carry_the_same_signed_bytes_as_seal() -> None:
    key, header = SigningKey.generate(), _header()
    head = sign_head(header, [b"ab", b"cd"], key)
    assert seal(header, [b"abcd"], key) == head + b"abcd"  # Ed25519 signatures are deterministic
    apart = open_envelope(head, memoryview(b"abcd"))
    joined = open_envelope(head + b"abcd")
    assert apart.header == joined.header
    assert bytes(apart.payload) == bytes(joined.payload) == b"abcd"
    assert apart.verify(key.public_key) and joined.verify(key.public_key)
    assert not open_envelope(head, b"abce").verify(key.public_key)


def test_a_head_with_bytes_after_its_signature_is_malformed_when_the_payload_comes_apart() -> None:
    wire = seal(_header(), [b"abcd"], SigningKey.generate())
    with pytest.raises(MalformedMessage, match="after its signature"):
        open_envelope(wire, b"abcd")


def test_split_sends_array_data_as_slices_of_their_own_and_joins_only_small_parts() -> None:
    data = np.arange(1000, dtype=np.uint8)
    parts = [b"h" * 10, memoryview(data), b"x" * 3, b"y" * 4]
    chunks = list(split(parts, 1017, 256))
    sizes = [[len(p) for p in pieces] for _, pieces in chunks]
    assert sizes == [[10], [256], [256], [256], [232], [3, 4]]
    for _, pieces in chunks[1:5]:
        assert np.shares_memory(np.frombuffer(pieces[0], dtype=np.uint8), data)  # not copied
    offsets = [offset for offset, _ in chunks]
    assert offsets == [0, 10, 266, 522, 778, 1010]
    assert b"".join(b"".join(bytes(p) for p in pieces) for _, pieces in chunks) == b"".join(bytes(p) for p in parts)


def test_small_parts_fill_whole_chunks_and_an_empty_object_is_one_chunk() -> None:
    chunks = list(split([b"a" * 30, b"b" * 30], 60, 40))  # 30 < 40 // 4 is false: each is big
    assert [[len(p) for p in pieces] for _, pieces in chunks] == [[30], [30]]
    chunks = list(split([b"a" * 9] * 6, 54, 40))  # small parts: chunks of exactly 40, a part cut across
    assert [sum(len(p) for p in pieces) for _, pieces in chunks] == [40, 14]
    assert list(split([], 0, 40)) == [(0, [])]
