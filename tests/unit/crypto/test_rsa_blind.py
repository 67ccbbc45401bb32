"""RSA blind signatures: unblinding gives the plain signature, so the requester learns F(x) and nothing of d."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from airflow_provider_powerfl.crypto import rsa_blind
from airflow_provider_powerfl.exceptions import CryptoError


@pytest.fixture(scope="module")
def key() -> rsa_blind.RsaSigningKey:
    return rsa_blind.RsaSigningKey.generate(1024)  # small for speed; the default is 2048


def _digests(n: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(n, 32), dtype=np.uint8)


def test_three_prime_crt_signature_equals_plain_exponentiation(key: rsa_blind.RsaSigningKey) -> None:
    public = key.public_key
    values = rsa_blind.full_domain_hash(_digests(20), public)
    assert len(key.primes) == 3 and public.n.bit_length() == 1024
    phi = 1
    for p in key.primes:
        assert gmpy2.is_prime(p)
        phi *= p - 1
    d = int(gmpy2.invert(public.e, phi))
    assert rsa_blind.sign(key, values) == [pow(v, d, public.n) for v in values]


def test_unblinded_signature_equals_direct_signature(key: rsa_blind.RsaSigningKey) -> None:
    public = key.public_key
    values = rsa_blind.full_domain_hash(_digests(30), public)
    blinded, r_inverses = rsa_blind.blind(values, public)
    assert blinded != values
    unblinded = rsa_blind.unblind(rsa_blind.sign(key, blinded), r_inverses, public)
    assert unblinded == rsa_blind.sign(key, values)
    assert rsa_blind.verify(unblinded, values, public)
    assert np.array_equal(rsa_blind.tokens(unblinded, public), rsa_blind.tokens(rsa_blind.sign(key, values), public))


def test_full_domain_hash_spans_the_modulus(key: rsa_blind.RsaSigningKey) -> None:
    values = rsa_blind.full_domain_hash(_digests(50), key.public_key)
    assert max(v.bit_length() for v in values) > key.public_key.n.bit_length() - 8


def test_refusals(key: rsa_blind.RsaSigningKey) -> None:
    with pytest.raises(CryptoError, match="outside"):
        rsa_blind.sign(key, [key.public_key.n])
    with pytest.raises(CryptoError, match="modulus"):
        rsa_blind.RsaPublicKey(n=key.public_key.n).check(2048)
    with pytest.raises(CryptoError, match="exponent"):
        rsa_blind.RsaPublicKey(n=key.public_key.n, e=4).check(1024)
    with pytest.raises(CryptoError, match="signatures for"):
        rsa_blind.unblind([1, 2], [1], key.public_key)
