from __future__ import annotations

import random

import gmpy2
import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.errors import MalformedMessage


def roundtrip(obj: object) -> object:
    return codec.decode(bytearray(codec.encode_bytes(obj)))


@pytest.mark.parametrize(
    "obj",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**4000) + 12345,
        1.5,
        float("inf"),
        -0.0,
        b"",
        b"\x00raw",
        bytes(10000),
        "",
        "héllo ✓",
        [],
        [1, "a", None, [2.5, (b"x",)]],
        (),
        (1, (2, (3,))),
        {},
        {"a": 1, "nested": {"b": [True, None]}, "": b""},
    ],
)
def test_plain_values_round_trip(obj: object) -> None:
    out = roundtrip(obj)
    assert out == obj
    assert type(out) is type(obj)


@pytest.mark.parametrize(
    "dtype", ["bool", "int8", "uint8", "<i2", ">i4", "int64", "uint64", "float16", "<f4", ">f8", "complex128"]
)
def test_numeric_arrays_keep_dtype_and_shape(dtype: str) -> None:
    array = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    out = roundtrip(array)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_array_edge_cases() -> None:
    for array in (np.zeros((0, 5)), np.array(3.25), np.arange(10.0)[::3], np.asfortranarray(np.ones((3, 2)))):
        out = roundtrip(array)
        assert out.shape == array.shape
        np.testing.assert_array_equal(out, array)


def test_arrays_decoded_from_a_bytearray_are_writable_and_aligned() -> None:
    out = roundtrip({"pad": b"x", "a": np.arange(1000.0)})["a"]
    out[0] = 42.0
    assert out.ctypes.data % 8 == 0


def test_numpy_scalars_become_python_values() -> None:
    assert roundtrip([np.int64(7), np.float32(0.5), np.bool_(True)]) == [7, 0.5, True]


def test_big_int_vectors_cost_exactly_their_width() -> None:
    rng = random.Random(1)
    values = [gmpy2.mpz(rng.getrandbits(4096)) | (1 << 4095) for _ in range(100)]
    array = np.array(values + [5], dtype=object)
    encoded = codec.encode_bytes(array)
    assert len(encoded) < 101 * 512 + 32
    out = roundtrip(array)
    assert out.dtype == object and out.shape == (101,)
    assert all(type(x) is type(gmpy2.mpz(0)) for x in out)
    assert list(out) == values + [5]


def test_big_int_vectors_with_python_ints_negatives_and_shape() -> None:
    array = np.array([[2**300, -(2**200)], [0, -1]], dtype=object)
    out = roundtrip(array)
    assert out.shape == (2, 2)
    assert [int(x) for x in out.ravel()] == [2**300, -(2**200), 0, -1]
    assert roundtrip(np.array([0, 0], dtype=object)).tolist() == [0, 0]
    assert roundtrip(np.empty(0, dtype=object)).shape == (0,)


@pytest.mark.parametrize("obj", [object(), {1: "int key"}, np.array(["text"]), np.array([1.5], dtype=object), {1, 2}])
def test_unsupported_objects_are_refused_at_encode(obj: object) -> None:
    with pytest.raises(TypeError):
        codec.encode(obj)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"?",
        b"i\x01",
        b"s" + (100).to_bytes(8, "little") + b"abc",
        b"s" + (3).to_bytes(8, "little") + b"\xff\xfe\xfd",
        b"l" + (2**40).to_bytes(8, "little"),
        codec.encode_bytes([1, 2]) + b"extra",
        codec.encode_bytes(np.arange(4))[:-3],
        codec.encode_bytes(np.arange(4)).replace(b"<i8", b"|O8"),
        b"l" + (1).to_bytes(8, "little") * 1 + b"l\x01" + b"\x00" * 7,
    ],
)
def test_malformed_bytes_raise_a_federation_error(data: bytes) -> None:
    with pytest.raises(MalformedMessage) as info:
        codec.decode(data)
    assert isinstance(info.value, FederationError)


def test_random_corruption_never_escapes_as_another_error() -> None:
    good = codec.encode_bytes({"a": [1, 2.5, "x", np.arange(5), np.array([2**100], dtype=object)]})
    rng = random.Random(7)
    for _ in range(500):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.randrange(len(data) + 1)
        try:
            codec.decode(bytes(data[:cut]) if rng.random() < 0.3 else bytes(data))
        except MalformedMessage:
            pass
