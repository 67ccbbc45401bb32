"""Worker processes compute exactly what one process computes (one pool, both kernels)."""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.algorithms.alignment.parallel import Workers
from airflow_provider_powerfl.crypto import rsa_blind, x25519


def test_pool_matches_single_process() -> None:
    points = np.random.default_rng(3).integers(0, 256, size=(101, 32), dtype=np.uint8)
    scalar = x25519.generate_scalar()
    key = rsa_blind.RsaSigningKey.generate(1024)
    values = rsa_blind.full_domain_hash(points[:21], key.public_key)
    with Workers(2) as pool:
        assert pool.workers == 2
        assert np.array_equal(pool.multiply(scalar, points), x25519.multiply_array(scalar, points))
        assert pool.sign(key, values) == rsa_blind.sign(key, values)
        assert pool.peak_rss_mb() > 0
    with Workers(1) as single:
        assert np.array_equal(single.multiply(scalar, points[:0]), points[:0])
