"""Sealing a data owner's slice and wrapping its data key to the enclave's public key.

A slice is sealed by AES-256-GCM under a fresh data key; the context (job, party, operation) is the
associated data, so a sealed slice cannot be replayed into another job or passed off as another party's.
The data key is wrapped by ECIES on X25519: an ephemeral key agreement with the enclave's public key, HKDF-SHA256
and AES-256-GCM, so only the holder of the enclave's private key (generated inside the enclave) unwraps it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from airflow_provider_powerfl.tee.errors import SealError

KEY_BYTES, NONCE_BYTES = 32, 12


def context(job_id: str, party_id: str, operation: str) -> bytes:
    """The associated data binding a sealed slice and its wrapped key to one job, party and operation."""
    return f"powerfl-tee-v1|{job_id}|{party_id}|{operation}".encode()


def split_context(job_id: str, party_id: str, operation: str, part: str) -> bytes:
    """The associated data of one sealed part of a job: a split of the slice (``train``, ``test``) or the ``result``."""
    return context(job_id, party_id, operation) + b"|" + part.encode()


def seal(plaintext: bytes, key: bytes, aad: bytes) -> bytes:
    """nonce || AES-GCM(plaintext) under ``key``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(sealed: bytes, key: bytes, aad: bytes, what: str) -> bytes:
    """The plaintext of ``seal``; SealError names ``what`` when the bytes, key or context differ."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise SealError(f"{what}: does not open (altered, another key or another job/party/operation)") from exc


def _kek(shared: bytes, aad: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"powerfl-tee-wrap|" + aad).derive(shared)


def wrap_key(data_key: bytes, enclave_public_key: bytes, aad: bytes) -> bytes:
    """ephemeral public key || seal(data key) under a key agreed with the enclave's public key."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(enclave_public_key))
    return ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) + seal(data_key, _kek(shared, aad), aad)


def unwrap_key(wrapped: bytes, enclave_key: X25519PrivateKey, aad: bytes, what: str) -> bytes:
    """The data key of ``wrap_key``, inside the enclave."""
    if len(wrapped) != 32 + NONCE_BYTES + KEY_BYTES + 16:
        raise SealError(f"{what}: a wrapped key is {32 + NONCE_BYTES + KEY_BYTES + 16} bytes, got {len(wrapped)}")
    shared = enclave_key.exchange(X25519PublicKey.from_public_bytes(wrapped[:32]))
    return open_sealed(wrapped[32:], _kek(shared, aad), aad, what)


@dataclass(frozen=True)
class Slice:
    """One party's aligned rows: ids, feature columns, and labels at the label owner."""

    ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray | None = None

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {"ids": self.ids.astype(str), "features": self.features.astype(np.float64)}
        if self.labels is not None:
            arrays["labels"] = self.labels.astype(np.float64)
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> Slice:
        """A slice opened inside the enclave; shapes checked (no pickles are ever loaded)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                ids, features = arrays["ids"], arrays["features"]
                labels = arrays["labels"] if "labels" in arrays.files else None
        except (ValueError, KeyError, OSError) as exc:
            raise SealError(f"{what}: not a slice ({exc})") from exc
        if features.ndim != 2 or ids.shape != (features.shape[0],) or (labels is not None and labels.shape != ids.shape):
            raise SealError(f"{what}: ids, features and labels disagree in shape")
        return cls(ids=ids, features=features, labels=labels)
