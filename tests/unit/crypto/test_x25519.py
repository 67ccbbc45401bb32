"""X25519 scalar multiplication of hashed ids commutes, as ECDH-PSI needs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from airflow_provider_powerfl.crypto import x25519
from airflow_provider_powerfl.exceptions import CryptoError


def _points(n: int) -> np.ndarray:
    raw = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(n))
    return np.frombuffer(raw, dtype=np.uint8).reshape(n, 32)


def test_scalar_multiplications_commute_despite_clamping() -> None:
    a, b = x25519.generate_scalar(), x25519.generate_scalar()
    points = _points(200)
    ab = x25519.multiply_array(b, x25519.multiply_array(a, points))
    ba = x25519.multiply_array(a, x25519.multiply_array(b, points))
    assert np.array_equal(ab, ba)
    assert not np.array_equal(x25519.multiply_array(a, points), points)


def test_distinct_points_stay_distinct() -> None:
    out = x25519.multiply_array(x25519.generate_scalar(), _points(500))
    assert len({row.tobytes() for row in out}) == 500


def test_low_order_point_is_refused() -> None:
    with pytest.raises(CryptoError, match="refused a point"):
        x25519.multiply(x25519.generate_scalar(), bytes(32))  # u = 0 has order 1


def test_malformed_inputs_are_refused() -> None:
    with pytest.raises(CryptoError, match="scalar must be 32 bytes"):
        x25519.multiply(b"short", bytes(64))
    with pytest.raises(CryptoError, match="not a multiple of 32"):
        x25519.multiply(x25519.generate_scalar(), bytes(33))
