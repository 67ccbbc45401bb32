from __future__ import annotations

import gmpy2
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.powmod import powmod_many


def test_powers_equal_gmpy2s_for_edge_and_random_bases() -> None:
    state = gmpy2.random_state(7)
    modulus = gmpy2.next_prime(mpz(2) ** 1023) ** 2  # odd, a prime square as in CRT decryption
    exponent = gmpy2.mpz_urandomb(state, 1024)
    bases = [mpz(0), mpz(1), mpz(2), modulus - 1] + [gmpy2.mpz_random(state, modulus) for _ in range(20)]
    assert powmod_many(bases, exponent, modulus) == [gmpy2.powmod(b, exponent, modulus) for b in bases]
    assert powmod_many(bases, 0, modulus) == [mpz(1)] * len(bases)
    assert powmod_many([], exponent, modulus) == []


def test_bad_inputs_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="odd"):
        powmod_many([mpz(3)], 5, 1 << 64)
    with pytest.raises(ValueError, match="below the modulus|in \\[0, modulus\\)"):
        powmod_many([mpz(101)], 5, 101)
    with pytest.raises(ValueError, match="in \\[0, modulus\\)"):
        powmod_many([mpz(1) << 80], 5, 101)
    with pytest.raises(ValueError, match="negative"):
        powmod_many([mpz(3)], -1, 101)
