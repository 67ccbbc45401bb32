from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.powmod import horner_fold, powmod_each, powmod_many


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


def test_each_base_to_its_own_signed_exponent_equals_gmpy2() -> None:
    state = gmpy2.random_state(11)
    modulus = gmpy2.next_prime(mpz(2) ** 1023) * gmpy2.next_prime(mpz(2) ** 1024 + 12345)
    modulus = modulus * modulus  # n^2 of a Paillier key
    bases = [mpz(1), modulus - 1] + [gmpy2.mpz_random(state, modulus) for _ in range(30)]
    exponents = [0, -1] + [int(gmpy2.mpz_urandomb(state, 40)) - (1 << 39) for _ in range(30)]
    exponents[2], exponents[3] = (1 << 63) - 1, -(1 << 63)
    expected = [gmpy2.powmod(b, e, modulus) for b, e in zip(bases, exponents, strict=True)]
    assert powmod_each(bases, exponents, modulus) == expected
    assert powmod_each(bases, np.array(exponents, dtype=np.int64), modulus) == expected


def test_each_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="not invertible"):
        powmod_each([mpz(7)], [-1], 49)
    with pytest.raises(ValueError, match="64-bit"):
        powmod_each([mpz(3)], [1 << 63], 101)
    with pytest.raises(ValueError, match="2 bases but exponents of shape"):
        powmod_each([mpz(3), mpz(4)], [1], 101)
    with pytest.raises(ValueError, match="below the modulus"):
        powmod_each([mpz(101)], [1], 101)


def test_horner_fold_packs_groups_of_any_length_alike_with_or_without_threads() -> None:
    state = gmpy2.random_state(3)
    modulus = gmpy2.next_prime(mpz(2) ** 511) ** 2
    groups = [[gmpy2.mpz_random(state, modulus) for _ in range(size)] for size in (3, 3, 1, 2)]
    want = []
    for group in groups:  # prod_j c_j^(2^(40 j)), the long way
        acc = mpz(1)
        for j, c in enumerate(group):
            acc = acc * gmpy2.powmod(c, mpz(1) << (40 * j), modulus) % modulus
        want.append(acc)
    assert horner_fold(groups, 40, modulus) == want
    with ThreadPoolExecutor(2) as threads:
        assert horner_fold(groups, 40, modulus, threads, 2) == want
    assert horner_fold([], 40, modulus) == []
