"""The signed wire message: one chunk of one encoded object plus who, what and when.

Layout (integers little-endian)::

    head    = magic b"PFL3" | u16 header length | header | 64-byte Ed25519 signature
    payload = the chunk

The signature covers BLAKE3(magic | length | header | payload), so nothing
but the signature itself is unsigned. Kafka carries the head as a record
header and the payload as the record value, so a chunk goes to the producer as
a slice of the sender's buffer, never joined; `seal` returns head + payload
joined, which is the same signed bytes in one buffer.

The header carries the run's nonce (16 random bytes the initiator draws per
run and sends in its invitation): a job id and attempt can recur (a job
re-submitted under its id), the nonce does not, so a receiver refuses another
run's messages.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import blake3

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.keys import SigningKey, VerifyKey

MAGIC = b"PFL3"  # PFL1 signed a SHA-256 digest; PFL2 had no run nonce
SIGNATURE_SIZE = 64
NONCE_SIZE = 16
_PREFIX = struct.Struct("<4sH")
# attempt, seq, chunk index, chunk count, offset, total size, timestamp (s), run nonce
_FIXED = struct.Struct(f"<IQIIQQd{NONCE_SIZE}s")
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
    nonce: bytes  # the run's, NONCE_SIZE bytes

    def pack(self) -> bytes:
        check_nonce(self.nonce, self.job_id)
        fixed = _FIXED.pack(
            self.attempt, self.seq, self.chunk_index, self.chunk_count, self.offset, self.total_size, self.timestamp, self.nonce
        )
        texts = b"".join(_pack_str(s) for s in (self.job_id, self.tag, self.sender, self.receiver))
        return fixed + texts

    @classmethod
    def unpack(cls, data: memoryview) -> Header:
        if len(data) < _FIXED.size:
            raise MalformedMessage(f"wire header of {len(data)} bytes is shorter than {_FIXED.size}")
        attempt, seq, index, count, offset, total, timestamp, nonce = _FIXED.unpack(data[: _FIXED.size])
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
        return cls(job_id, attempt, tag, seq, index, count, offset, total, sender, receiver, timestamp, nonce)


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified, wire message."""

    header: Header
    signed_prefix: memoryview
    signature: bytes
    payload: memoryview

    def digest(self) -> bytes:
        return _digest(self.signed_prefix, [self.payload])

    def verify(self, key: VerifyKey) -> bool:
        return key.verify(self.digest(), self.signature)


def check_nonce(nonce: bytes, job_id: str) -> bytes:
    """``nonce`` if it is a run nonce (NONCE_SIZE bytes), else ConfigError naming the job."""
    if len(nonce) != NONCE_SIZE:
        raise ConfigError(f"run nonce of job {job_id!r}: expected {NONCE_SIZE} bytes, got {len(nonce)}")
    return bytes(nonce)


def new_nonce() -> bytes:
    """A fresh run nonce: the initiator draws one per run."""
    return secrets.token_bytes(NONCE_SIZE)


def sign_head(header: Header, payload: Sequence[Buffer], key: SigningKey) -> bytes:
    """The head (magic, header, signature) of one chunk whose payload is the concatenation of `payload`."""
    packed = header.pack()
    prefix = _PREFIX.pack(MAGIC, len(packed)) + packed
    return prefix + key.sign(_digest(prefix, payload))


def seal(header: Header, payload: Sequence[Buffer], key: SigningKey) -> bytes:
    """The signed wire message of one chunk in one buffer: head + payload."""
    return b"".join([sign_head(header, payload, key), *payload])


def open_envelope(wire: Buffer, payload: Buffer | None = None) -> Envelope:
    """Parse a wire message without trusting it; malformed bytes raise MalformedMessage.

    With `payload` given, `wire` is exactly the head; otherwise the payload follows the head in `wire`.
    """
    view = memoryview(wire).cast("B")
    if len(view) < _PREFIX.size:
        raise MalformedMessage(f"wire message of {len(view)} bytes is too short")
    magic, header_len = _PREFIX.unpack(view[: _PREFIX.size])
    if magic != MAGIC:
        raise MalformedMessage(f"wire message starts with {bytes(magic)!r}, not {MAGIC!r}")
    end = _PREFIX.size + header_len
    if end + SIGNATURE_SIZE > len(view):
        raise MalformedMessage("wire message truncated before its signature")
    if payload is None:
        body = view[end + SIGNATURE_SIZE :]
    elif end + SIGNATURE_SIZE == len(view):
        body = memoryview(payload).cast("B")
    else:
        raise MalformedMessage(f"wire head has {len(view) - end - SIGNATURE_SIZE} bytes after its signature")
    header = Header.unpack(view[_PREFIX.size : end])
    if header.offset + len(body) > header.total_size or header.chunk_index >= header.chunk_count:
        raise MalformedMessage(f"chunk {header.chunk_index}/{header.chunk_count} does not fit its object")
    return Envelope(header, view[:end], bytes(view[end : end + SIGNATURE_SIZE]), body)


def split(parts: Sequence[Buffer], total: int, chunk_size: int) -> Iterator[tuple[int, list[Buffer]]]:
    """Yield (offset, buffers) chunks of at most chunk_size bytes without copying; at least one chunk.

    A part of at least a quarter chunk (array data) is cut into chunks of its
    own, so each of those is one slice the producer takes as it is; smaller
    parts share chunks, which the sender joins.
    """
    if total == 0:
        yield 0, []
        return
    big = max(1, chunk_size // 4)
    chunk: list[Buffer] = []
    room = chunk_size
    offset = 0
    for part in parts:
        view = memoryview(part).cast("B")
        alone = len(view) >= big
        if alone and chunk:
            yield offset, chunk
            offset += chunk_size - room
            chunk, room = [], chunk_size
        while len(view):
            piece = view[:room]
            chunk.append(piece)
            view = view[len(piece) :]
            room -= len(piece)
            if room == 0 or (alone and not len(view)):
                yield offset, chunk
                offset += chunk_size - room
                chunk, room = [], chunk_size
    if chunk:
        yield offset, chunk


def _digest(prefix: Buffer, payload: Sequence[Buffer]) -> bytes:
    # BLAKE3: 0.18 ms/MB here against 0.59 for SHA-256 (with SHA extensions) and 1.1 for BLAKE2b
    hasher = blake3.blake3(prefix)
    for part in payload:
        hasher.update(part)
    return hasher.digest()


def _pack_str(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ConfigError(f"job id, tag or party id {text[:40]!r}... is longer than 65535 bytes")
    return _STR_LEN.pack(len(data)) + data
