"""The signed wire message: one chunk of one encoded object plus who, what and when.

Layout (integers little-endian)::

    magic b"PFL1" | u16 header length | header | 64-byte Ed25519 signature | chunk payload

The signature covers SHA-256(magic | length | header | payload), so nothing
on the wire but the signature itself is unsigned.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.keys import SigningKey, VerifyKey

MAGIC = b"PFL1"
SIGNATURE_SIZE = 64
_PREFIX = struct.Struct("<4sH")
# attempt, seq, chunk index, chunk count, offset, total size, timestamp (s)
_FIXED = struct.Struct("<IQIIQQd")
_STR_LEN = struct.Struct("<H")

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Header:
    """Everything a receiver checks before it accepts a chunk."""

    job_id: str
    attempt: int
    tag: str
    seq: int  # per (sender, receiver, tag), from 0
    chunk_index: int
    chunk_count: int
    offset: int  # of this chunk in the encoded object
    total_size: int  # of the encoded object
    sender: str
    receiver: str
    timestamp: float  # sender's clock, seconds since the epoch

    def pack(self) -> bytes:
        fixed = _FIXED.pack(
            self.attempt, self.seq, self.chunk_index, self.chunk_count, self.offset, self.total_size, self.timestamp
        )
        texts = b"".join(_pack_str(s) for s in (self.job_id, self.tag, self.sender, self.receiver))
        return fixed + texts

    @classmethod
    def unpack(cls, data: memoryview) -> Header:
        if len(data) < _FIXED.size:
            raise MalformedMessage(f"wire header of {len(data)} bytes is shorter than {_FIXED.size}")
        attempt, seq, index, count, offset, total, timestamp = _FIXED.unpack(data[: _FIXED.size])
        pos = _FIXED.size
        texts = []
        for _ in range(4):
            if pos + 2 > len(data):
                raise MalformedMessage("wire header truncated in its text fields")
            (n,) = _STR_LEN.unpack(data[pos : pos + 2])
            if pos + 2 + n > len(data):
                raise MalformedMessage("wire header truncated in its text fields")
            try:
                texts.append(str(data[pos + 2 : pos + 2 + n], "utf-8"))
            except UnicodeDecodeError as exc:
                raise MalformedMessage("wire header holds invalid UTF-8") from exc
            pos += 2 + n
        if pos != len(data):
            raise MalformedMessage(f"wire header has {len(data) - pos} trailing bytes")
        job_id, tag, sender, receiver = texts
        return cls(job_id, attempt, tag, seq, index, count, offset, total, sender, receiver, timestamp)


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified, wire message."""

    header: Header
    signed_prefix: memoryview
    signature: bytes
    payload: memoryview

    def digest(self) -> bytes:
        hasher = hashlib.sha256(self.signed_prefix)
        hasher.update(self.payload)
        return hasher.digest()

    def verify(self, key: VerifyKey) -> bool:
        return key.verify(self.digest(), self.signature)


def seal(header: Header, payload: Sequence[Buffer], key: SigningKey) -> bytes:
    """Build the signed wire message of one chunk; payload buffers are joined once."""
    packed = header.pack()
    prefix = _PREFIX.pack(MAGIC, len(packed)) + packed
    hasher = hashlib.sha256(prefix)
    for part in payload:
        hasher.update(part)
    return b"".join([prefix, key.sign(hasher.digest()), *payload])


def open_envelope(wire: Buffer) -> Envelope:
    """Parse a wire message without trusting it; malformed bytes raise MalformedMessage."""
    view = memoryview(wire).cast("B")
    if len(view) < _PREFIX.size:
        raise MalformedMessage(f"wire message of {len(view)} bytes is too short")
    magic, header_len = _PREFIX.unpack(view[: _PREFIX.size])
    if magic != MAGIC:
        raise MalformedMessage(f"wire message starts with {bytes(magic)!r}, not {MAGIC!r}")
    end = _PREFIX.size + header_len
    if end + SIGNATURE_SIZE > len(view):
        raise MalformedMessage("wire message truncated before its signature")
    header = Header.unpack(view[_PREFIX.size : end])
    if header.offset + len(view) - end - SIGNATURE_SIZE > header.total_size or header.chunk_index >= header.chunk_count:
        raise MalformedMessage(f"chunk {header.chunk_index}/{header.chunk_count} does not fit its object")
    return Envelope(header, view[:end], bytes(view[end : end + SIGNATURE_SIZE]), view[end + SIGNATURE_SIZE :])


def split(parts: Sequence[Buffer], total: int, chunk_size: int) -> Iterator[tuple[int, list[Buffer]]]:
    """Yield (offset, buffers) chunks of at most chunk_size bytes without copying; at least one chunk."""
    if total == 0:
        yield 0, []
        return
    chunk: list[Buffer] = []
    room = chunk_size
    offset = 0
    for part in parts:
        view = memoryview(part).cast("B")
        while len(view):
            piece = view[:room]
            chunk.append(piece)
            view = view[len(piece) :]
            room -= len(piece)
            if room == 0:
                yield offset, chunk
                offset += chunk_size
                chunk, room = [], chunk_size
    if chunk:
        yield offset, chunk


def _pack_str(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ConfigError(f"job id, tag or party id {text[:40]!r}... is longer than 65535 bytes")
    return _STR_LEN.pack(len(data)) + data
