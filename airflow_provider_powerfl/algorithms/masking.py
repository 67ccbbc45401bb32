"""Additive masks that statistically hide a value before its key owner decrypts it.

A party that wants a ciphertext [[g]] under a peer's key decrypted adds r drawn
uniformly from [0, 2^(n_bits - 4)): the peer sees g + r, whose distribution differs from
r's by at most |g| / 2^(n_bits - 4) (statistical distance). We require |g| < 2^bound with
bound + STATISTICAL_BITS <= n_bits - 4, so the peer learns nothing beyond 2^-128. The
sum stays below 2^(n_bits - 3) < n/3 (the key's signed plaintext range), so it never wraps.
Masks come from the OS CSPRNG, never from ``random_state``.
"""

from __future__ import annotations

import secrets

from airflow_provider_powerfl.exceptions import ConfigError

STATISTICAL_BITS = 128


def mask_bits(n_bits: int) -> int:
    return n_bits - 4


def check_hidden(bound_bits: int, n_bits: int, what: str) -> None:
    """Refuse a value of up to ``bound_bits`` bits that a mask of a ``n_bits``-bit key cannot hide by 2^-128."""
    if bound_bits + STATISTICAL_BITS > mask_bits(n_bits):
        raise ConfigError(
            f"{what} may need {bound_bits} bits; with the {STATISTICAL_BITS}-bit statistical mask it does not fit "
            f"a {n_bits}-bit Paillier key: raise key_length or lower batch_size"
        )


def draw(count: int, n_bits: int) -> list[int]:
    """``count`` fresh masks for values under a ``n_bits``-bit key."""
    bits = mask_bits(n_bits)
    return [secrets.randbits(bits) for _ in range(count)]
