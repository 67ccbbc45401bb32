"""Commutative X25519 scalar multiplication of hashed ids, the primitive of ECDH-PSI.

A 32-byte hash is read as an X25519 u-coordinate (RFC 7748 masks its top bit
and reduces it mod p; a random u lies on the curve or its twist, both fine for
X25519). Multiplying by two clamped scalars commutes, k_a*(k_b*P) = k_b*(k_a*P),
so either party can apply its scalar first. Clamping makes scalars
non-invertible, so a party can never strip its own layer off again: protocols
that must unblind use `crypto.rsa_blind` instead.
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from airflow_provider_powerfl.exceptions import CryptoError

POINT_BYTES = 32
SCALAR_BYTES = 32


def generate_scalar() -> bytes:
    """A fresh random scalar (clamped by X25519 at use)."""
    return os.urandom(SCALAR_BYTES)


def multiply(scalar: bytes, points: bytes) -> bytes:
    """Multiply each 32-byte point in `points` by `scalar`; returns the products concatenated.

    A top-level function of plain bytes so process pools can run it.
    """
    if len(scalar) != SCALAR_BYTES:
        raise CryptoError(f"X25519 scalar must be {SCALAR_BYTES} bytes, got {len(scalar)}")
    if len(points) % POINT_BYTES:
        raise CryptoError(f"X25519 points buffer of {len(points)} bytes is not a multiple of {POINT_BYTES}")
    key = X25519PrivateKey.from_private_bytes(scalar)
    points = bytes(points)
    exchange, from_bytes = key.exchange, X25519PublicKey.from_public_bytes
    try:
        return b"".join([exchange(from_bytes(points[i : i + POINT_BYTES])) for i in range(0, len(points), POINT_BYTES)])
    except ValueError as err:  # a low-order point: never produced by hashing, only by a faulty peer
        raise CryptoError(f"X25519 refused a point: {err}") from err


def multiply_array(scalar: bytes, points: np.ndarray) -> np.ndarray:
    """`multiply` on an (n, 32) uint8 array, returning a new (n, 32) uint8 array."""
    out = multiply(scalar, np.ascontiguousarray(points, dtype=np.uint8).tobytes())
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, POINT_BYTES).copy()
