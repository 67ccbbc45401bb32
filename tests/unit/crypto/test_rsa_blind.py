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


def test_exponent_is_pinned_and_2048_bits_is_a_floor(key: rsa_blind.RsaSigningKey) -> None:
    with pytest.raises(CryptoError, match="exponent 3 refused: only 65537"):
        rsa_blind.RsaPublicKey(n=key.public_key.n, e=3).check()
    with pytest.raises(CryptoError, match="1024 bits refused"):
        key.public_key.check(1024)  # a caller's min_bits raises the floor, never lowers it
    with pytest.raises(CryptoError, match="8193 bits refused"):
        rsa_blind.RsaPublicKey(n=(1 << 8192) + 1).check()


def test_key_proof_verifies_for_an_honest_key(key: rsa_blind.RsaSigningKey) -> None:
    proof = rsa_blind.key_proof(key)
    assert len(proof) == rsa_blind.KEY_PROOF_ROUNDS
    rsa_blind.check_key_proof(key.public_key, proof)
    with pytest.raises(CryptoError, match="do not verify"):
        rsa_blind.check_key_proof(key.public_key, proof[::-1])


def test_key_proof_refuses_a_modulus_under_which_blinding_leaks() -> None:
    """With 65537 | p - 1, x * r^e mod p raised to (p - 1) / e is x^((p-1)/e): the same for every r."""
    e = rsa_blind.PUBLIC_EXPONENT
    p = next(p for k in range(1 << 500, (1 << 500) + 100_000) if gmpy2.is_prime(p := 2 * e * k + 1))
    q = int(gmpy2.next_prime(1 << 520))
    public = rsa_blind.RsaPublicKey(n=p * q)
    x = rsa_blind.full_domain_hash(_digests(1), public)[0]
    seen = {pow(rsa_blind.blind([x], public)[0][0], (p - 1) // e, p) for _ in range(5)}
    assert seen == {pow(x, (p - 1) // e, p)}  # the signer's fingerprint of x, whatever the blinding
    with pytest.raises(CryptoError, match="key proof refused"):
        rsa_blind.check_key_proof(public, [1] * rsa_blind.KEY_PROOF_ROUNDS)


def test_blind_refuses_a_value_sharing_a_factor_with_n(key: rsa_blind.RsaSigningKey) -> None:
    with pytest.raises(CryptoError, match="shares a factor"):
        rsa_blind.blind([key.primes[0] * 5], key.public_key)
