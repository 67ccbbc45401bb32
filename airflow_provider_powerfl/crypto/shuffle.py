"""Secret permutations from the OS CSPRNG.

A permutation that hides an order from a peer (PSI streams, SecureBoost candidate ids, WOE bin
order) must be unpredictable, and numpy's PCG64 is not a cryptographic generator: its whole
state can be recovered from a few outputs. Here every element gets a 64-bit key from
``os.urandom`` and the permutation is the order of the keys. Distinct i.i.d. keys sort into
a uniform permutation, so keys are redrawn in the rare case two collide (probability about
n^2 / 2^65: 3e-8 for a million elements), which keeps the result exactly uniform.
"""

from __future__ import annotations

import os

import numpy as np

from airflow_provider_powerfl.exceptions import CryptoError


def secure_permutation(n: int) -> np.ndarray:
    """A uniformly random permutation of 0..n-1 (int64), drawn from the OS CSPRNG."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise CryptoError(f"secure_permutation needs a count n >= 0, got {n!r}")
    while True:
        keys = np.frombuffer(os.urandom(8 * int(n)), dtype=np.uint64)
        order = np.argsort(keys).astype(np.int64, copy=False)  # keys are distinct: stability is moot
        ranked = keys[order]
        if not np.any(ranked[1:] == ranked[:-1]):
            return order
