"""Compact tagged binary encoding of the objects parties exchange.

Arrays travel as their raw buffer (no per-element work), big-int vectors such
as Paillier ciphertexts as fixed-width big-endian integers, one width per
vector, so a ciphertext costs exactly its size. `encode` returns a list of
buffers (array data is not copied); `decode` reads arrays zero-copy from the
buffer it is given, so decode from a writable buffer to get writable arrays.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import gmpy2
import numpy as np

from airflow_provider_powerfl.federation.errors import MalformedMessage

_ALIGN = 16  # array data starts 16-byte aligned relative to the buffer start
_MAX_DEPTH = 64
_NUMERIC_KINDS = frozenset("biufc")

_NONE, _TRUE, _FALSE = b"N", b"T", b"F"
_INT, _BIGINT, _FLOAT = b"i", b"I", b"f"
_BYTES, _STR = b"b", b"s"
_LIST, _TUPLE, _DICT = b"l", b"t", b"d"
_ARRAY, _INTVEC = b"a", b"v"

_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_BIGINT_HEAD = struct.Struct("<BI")  # sign (1 = negative), magnitude length
_INTVEC_HEAD = struct.Struct("<IB")  # width, signed
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_mpz = type(gmpy2.mpz(0))


def encode(obj: object) -> tuple[list[bytes | memoryview], int]:
    """Encode `obj` as a list of buffers to be written in order, and their total size."""
    encoder = _Encoder()
    encoder.write(obj, 0)
    encoder.flush()
    return encoder.parts, encoder.size


def encode_bytes(obj: object) -> bytes:
    """Encode `obj` into one bytes object (convenient for small values and tests)."""
    parts, _ = encode(obj)
    return b"".join(parts)


def decode(buf: bytes | bytearray | memoryview | np.ndarray) -> object:
    """Decode one object that fills `buf` exactly; malformed input raises MalformedMessage."""
    decoder = _Decoder(memoryview(buf).cast("B"))
    obj = decoder.read(0)
    if decoder.pos != len(decoder.buf):
        raise MalformedMessage(f"encoded object has {len(decoder.buf) - decoder.pos} trailing bytes")
    return obj


class _Encoder:
    """Collects small headers in a bytearray and big buffers as separate parts."""

    def __init__(self) -> None:
        self.parts: list[bytes | memoryview] = []
        self.head = bytearray()
        self.size = 0  # bytes in parts

    def flush(self) -> None:
        if self.head:
            self.parts.append(bytes(self.head))
            self.size += len(self.head)
            self.head = bytearray()

    def offset(self) -> int:
        return self.size + len(self.head)

    def big(self, data: bytes | memoryview) -> None:
        self.flush()
        self.parts.append(data)
        self.size += len(data)

    def write(self, obj: object, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise MalformedMessage(f"object nested deeper than {_MAX_DEPTH} levels")
        head = self.head
        if obj is None:
            head += _NONE
        elif obj is True or obj is False or isinstance(obj, np.bool_):
            head += _TRUE if obj else _FALSE
        elif isinstance(obj, (int, np.integer, _mpz)):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            head += _FLOAT + _F64.pack(float(obj))
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            data = memoryview(obj).cast("B")
            head += _BYTES + _U64.pack(len(data))
            if len(data) > 4096:
                self.big(data)
            else:
                head += data
        elif isinstance(obj, str):
            data = obj.encode("utf-8")
            head += _STR + _U64.pack(len(data)) + data
        elif isinstance(obj, (list, tuple)):
            head += (_LIST if isinstance(obj, list) else _TUPLE) + _U64.pack(len(obj))
            for item in obj:
                self.write(item, depth + 1)
        elif isinstance(obj, dict):
            head += _DICT + _U64.pack(len(obj))
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise TypeError(f"dict keys must be str to be sent, got {type(key).__name__} {key!r}")
                data = key.encode("utf-8")
                self.head += _U32.pack(len(data)) + data
                self.write(value, depth + 1)
        elif isinstance(obj, np.ndarray):
            if obj.dtype.kind == "O":
                self._intvec(obj)
            else:
                self._array(obj)
        else:
            raise TypeError(f"cannot send objects of type {type(obj).__name__}")

    def _int(self, value: int) -> None:
        if _INT64_MIN <= value <= _INT64_MAX:
            self.head += _INT + _I64.pack(value)
        else:
            magnitude = abs(value)
            data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
            self.head += _BIGINT + _BIGINT_HEAD.pack(value < 0, len(data)) + data

    def _shape(self, tag: bytes, array: np.ndarray) -> None:
        self.head += tag + bytes([array.ndim]) + b"".join(_U64.pack(n) for n in array.shape)

    def _array(self, array: np.ndarray) -> None:
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"cannot send numpy arrays of dtype {array.dtype}; only numeric dtypes")
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        dtype = array.dtype.str.encode("ascii")
        self._shape(_ARRAY, array)
        self.head += bytes([len(dtype)]) + dtype
        self.head += bytes((-self.offset()) % _ALIGN)
        data = memoryview(array).cast("B") if array.size else b""
        if len(data) > 4096:
            self.big(data)
        else:
            self.head += data

    def _intvec(self, array: np.ndarray) -> None:
        flat = array.ravel()
        for item in flat:
            if not isinstance(item, (int, _mpz)) or isinstance(item, bool):
                raise TypeError(f"object arrays may hold only ints or gmpy2.mpz, got {type(item).__name__}")
        signed = any(item < 0 for item in flat)
        if signed:
            width = max(((int(item) << 1).bit_length() + 7) // 8 for item in flat)
            data = b"".join(int(item).to_bytes(width, "big", signed=True) for item in flat)
        else:
            width = max((gmpy2.bit_length(item) + 7) // 8 for item in flat) if len(flat) else 1
            width = max(width, 1)
            data = b"".join(_to_bytes(item, width) for item in flat)
        self._shape(_INTVEC, array)
        self.head += _INTVEC_HEAD.pack(width, signed)
        self.big(data)


def _to_bytes(item: int | object, width: int) -> bytes:
    return item.to_bytes(width, "big")  # type: ignore[attr-defined]  # int and mpz both have it


class _Decoder:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        start = self.pos
        end = start + n
        if n < 0 or end > len(self.buf):
            raise MalformedMessage(f"encoded object truncated: needs {n} bytes at offset {start}, has {len(self.buf) - start}")
        self.pos = end
        return self.buf[start:end]

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def count(self) -> int:
        n = self.unpack(_U64)[0]
        if n > len(self.buf):  # every item takes at least one byte
            raise MalformedMessage(f"encoded length {n} at offset {self.pos - 8} exceeds the buffer")
        return n

    def text(self, n: int) -> str:
        try:
            return str(self.take(n), "utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"invalid UTF-8 in encoded string near offset {self.pos - n}") from exc

    def read(self, depth: int) -> object:
        if depth > _MAX_DEPTH:
            raise MalformedMessage(f"encoded object nested deeper than {_MAX_DEPTH} levels")
        tag = bytes(self.take(1))
        if tag == _NONE:
            return None
        if tag == _TRUE:
            return True
        if tag == _FALSE:
            return False
        if tag == _INT:
            return self.unpack(_I64)[0]
        if tag == _FLOAT:
            return self.unpack(_F64)[0]
        if tag == _BIGINT:
            negative, n = self.unpack(_BIGINT_HEAD)
            value = int.from_bytes(self.take(n), "big")
            return -value if negative else value
        if tag == _BYTES:
            return bytes(self.take(self.count()))
        if tag == _STR:
            return self.text(self.count())
        if tag in (_LIST, _TUPLE):
            items = [self.read(depth + 1) for _ in range(self.count())]
            return items if tag == _LIST else tuple(items)
        if tag == _DICT:
            out = {}
            for _ in range(self.count()):
                key = self.text(self.unpack(_U32)[0])
                out[key] = self.read(depth + 1)
            return out
        if tag == _ARRAY:
            return self._array()
        if tag == _INTVEC:
            return self._intvec()
        raise MalformedMessage(f"unknown type tag {tag!r} at offset {self.pos - 1}")

    def _shape(self) -> tuple[int, ...]:
        ndim = self.take(1)[0]
        return tuple(self.unpack(_U64)[0] for _ in range(ndim))

    def _array(self) -> np.ndarray:
        shape = self._shape()
        dtype_str = self.text(self.take(1)[0])
        try:
            dtype = np.dtype(dtype_str)
        except TypeError as exc:
            raise MalformedMessage(f"unknown numpy dtype {dtype_str!r} in encoded array") from exc
        if dtype.kind not in _NUMERIC_KINDS or dtype_str != dtype.str:
            raise MalformedMessage(f"numpy dtype {dtype_str!r} is not an allowed numeric dtype")
        self.take((-self.pos) % _ALIGN)
        count = _product(shape)
        data = self.take(count * dtype.itemsize)
        return _reshape(np.frombuffer(data, dtype=dtype, count=count), shape)

    def _intvec(self) -> np.ndarray:
        shape = self._shape()
        width, signed = self.unpack(_INTVEC_HEAD)
        count = _product(shape)
        if width == 0:
            raise MalformedMessage(f"big-int vector of width 0 at offset {self.pos}")
        data = self.take(count * width)
        stop = count * width
        if signed:
            items = (gmpy2.mpz(int.from_bytes(data[i : i + width], "big", signed=True)) for i in range(0, stop, width))
        else:
            from_bytes = _mpz.from_bytes
            items = (from_bytes(data[i : i + width], "big") for i in range(0, stop, width))
        return _reshape(np.fromiter(items, dtype=object, count=count), shape)


def _reshape(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # an empty array may declare any dimensions: more than numpy has, or one past its index type
    try:
        return flat.reshape(shape)
    except ValueError as exc:
        raise MalformedMessage(f"encoded array shape {shape[:8]} (ndim {len(shape)}) is not a numpy shape: {exc}") from exc


def _product(shape: Sequence[int]) -> int:
    count = 1
    for n in shape:
        count *= n
    if count > 1 << 48:
        raise MalformedMessage(f"encoded array shape {tuple(shape)} is implausibly large")
    return count
