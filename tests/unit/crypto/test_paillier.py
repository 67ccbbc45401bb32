"""Paillier keys, encryption and vectors against python-paillier (phe) as the reference.

Speed: most tests use a 1024-bit key with allow_insecure_key_length=True (marked SPEED);
one test makes a real 2048-bit round trip.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz
from phe import paillier as phe

from airflow_provider_powerfl.crypto import paillier, paillier_private
from airflow_provider_powerfl.crypto.encoding import encode
from airflow_provider_powerfl.crypto.errors import (
    EncodingOverflowError,
    InsecureKeyError,
    KeyMismatchError,
    MalformedCiphertextError,
)
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey, generate_keypair
from airflow_provider_powerfl.crypto.vector import EncryptedVector
from airflow_provider_powerfl.exceptions import CryptoError

EDGE = [0.0, 1.0, -1.0, 1e-9, -1e-9, 123456.789, -987654.321, 2.0**40, -(2.0**40)]


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(1024, allow_insecure_key_length=True)  # SPEED: test-only key size


@pytest.fixture(scope="module")
def other_keys():
    return generate_keypair(1024, allow_insecure_key_length=True)  # SPEED


def test_short_key_refused_naming_size():
    with pytest.raises(InsecureKeyError, match="1024 bits"):
        generate_keypair(1024)
    pk, _ = generate_keypair(512, allow_insecure_key_length=True)
    with pytest.raises(InsecureKeyError, match="512"):
        PaillierPublicKey(pk.n)
    with pytest.raises(InsecureKeyError):
        PaillierPublicKey.from_bytes(pk.to_bytes())


def test_a_prime_pair_that_fails_is_redrawn_whole(monkeypatch):
    """A p in the middle of [0.75, 1) * 2^half leaves almost no q far enough from it: keeping p made key
    generation take up to 39 s. Both primes are drawn again instead."""
    half = 32

    def prime_near(fraction: float) -> int:
        p = gmpy2.next_prime(int(fraction * 2**half))
        while p % 4 != 3:
            p = gmpy2.next_prime(p)
        return int(p)

    middle, close = prime_near(0.875), prime_near(0.876)  # |p - q| far below 2^(half - 3)
    low, high = prime_near(0.76), prime_near(0.99)
    while gmpy2.gcd(low - 1, high - 1) != 2:
        high = prime_near(high / 2**half + 1e-6)
    drawn = iter([middle, close, low, high])
    monkeypatch.setattr(paillier_private, "_random_prime", lambda bits: mpz(next(drawn)))
    public, private = generate_keypair(2 * half, allow_insecure_key_length=True)
    assert (private.p, private.q) == (low, high) and public.n == low * high


def test_2048_bit_round_trip_with_phe():
    pk, sk = generate_keypair()
    assert pk.n_bits == 2048 and pk.obfuscator_bits == 1024
    values = [0.0, -3.5, 1e6, -1e-6]
    vec = EncryptedVector.encrypt(pk, values)
    np.testing.assert_allclose(vec.decrypt(sk), values, rtol=0, atol=2**-40)
    phe_sk = sk.to_phe()
    assert [phe_sk.decrypt(x) for x in vec.to_phe()] == pytest.approx(values, abs=2**-40)
    owner = EncryptedVector.encrypt(sk, values)
    np.testing.assert_allclose(owner.decrypt(sk), values, atol=2**-40)


def test_raw_encrypt_matches_phe_both_ways(keys):
    pk, sk = keys
    phe_pk, phe_sk = pk.to_phe(), sk.to_phe()
    residues = [0, 1, 2, 12345, int(pk.max_int), int(pk.n - 1)]
    for c, m in zip(pk.raw_encrypt_many(residues), residues, strict=True):
        assert phe_sk.raw_decrypt(int(c)) == m
    for c, m in zip(sk.raw_encrypt_many(residues), residues, strict=True):  # owner CRT path
        assert phe_sk.raw_decrypt(int(c)) == m
    assert sk.raw_decrypt_many([phe_pk.raw_encrypt(m) for m in residues]) == residues


def test_small_comb_key_and_pickled_key_encrypt_correctly(keys):
    import pickle

    pk, sk = keys
    small = PaillierPublicKey(pk.n, allow_insecure_key_length=True, comb=(4, 3))
    residues = [0, 1, int(pk.max_int), int(pk.n - 1)]
    assert sk.raw_decrypt_many(small.raw_encrypt_many(residues)) == residues
    assert small.hs_table.exp_bits >= small.obfuscator_bits and small.hs_table.teeth == 4
    clone = pickle.loads(pickle.dumps(sk))  # tables are dropped and rebuilt with fresh bases
    assert clone._crt_tables is None and clone.public_key._hs_table is None
    both = clone.raw_encrypt_many(residues) + clone.public_key.raw_encrypt_many(residues)
    assert sk.raw_decrypt_many(both) == residues * 2


def test_a_few_encryptions_need_no_comb(keys):
    """Below TABLE_MIN_COUNT values, before any comb exists, encryption uses plain powmods (public and owner)."""
    pk, sk = keys
    public, owner = PaillierPublicKey(pk.n, allow_insecure_key_length=True), pickle_copy(sk)
    residues = [0, 1, int(pk.max_int), int(pk.n - 1)]
    both = public.raw_encrypt_many(residues) + owner.raw_encrypt_many(residues)
    assert sk.raw_decrypt_many(both) == residues * 2
    assert public._hs_table is None and owner._crt_tables is None
    assert len(set(public.raw_encrypt_many([5, 5]) + owner.raw_encrypt_many([5, 5]))) == 4


def pickle_copy(obj):
    import pickle

    return pickle.loads(pickle.dumps(obj))


def test_encryption_is_randomised(keys):
    pk, sk = keys
    a, b = pk.raw_encrypt_many([7, 7])
    assert a != b
    c, d = sk.raw_encrypt_many([7, 7])
    assert c != d and sk.raw_decrypt_many([a, b, c, d]) == [7] * 4


def test_key_conversion_both_ways(keys):
    pk, sk = keys
    assert PaillierPublicKey.from_phe(pk.to_phe(), allow_insecure_key_length=True) == pk
    back = PaillierPrivateKey.from_phe(sk.to_phe(), allow_insecure_key_length=True)
    assert (back.p, back.q) == (sk.p, sk.q)
    phe_pk, phe_sk = phe.generate_paillier_keypair(n_length=1024)  # SPEED
    ours = PaillierPrivateKey.from_phe(phe_sk, allow_insecure_key_length=True)
    assert ours.raw_decrypt(phe_pk.raw_encrypt(99)) == 99
    assert phe_sk.raw_decrypt(int(ours.public_key.raw_encrypt(42))) == 42


def test_key_serialisation(keys):
    pk, sk = keys
    assert PaillierPublicKey.from_bytes(pk.to_bytes(), allow_insecure_key_length=True) == pk
    assert PaillierPublicKey.from_dict(pk.to_dict(), allow_insecure_key_length=True) == pk
    for restored in (
        PaillierPrivateKey.from_bytes(sk.to_bytes(), allow_insecure_key_length=True),
        PaillierPrivateKey.from_dict(sk.to_dict(), allow_insecure_key_length=True),
    ):
        assert restored.raw_decrypt(pk.raw_encrypt(5)) == 5
    with pytest.raises(CryptoError, match="magic"):
        PaillierPublicKey.from_bytes(b"nope")
    with pytest.raises(CryptoError, match="kind"):
        PaillierPrivateKey.from_dict({"p": "5"})


def test_edge_values_match_phe(keys):
    pk, sk = keys
    vec = EncryptedVector.encrypt(pk, EDGE)
    ours = vec.decrypt(sk)
    phe_sk = sk.to_phe()
    theirs = [phe_sk.decrypt(x) for x in vec.to_phe()]
    np.testing.assert_allclose(ours, EDGE, atol=2**-40)
    np.testing.assert_allclose(theirs, ours, atol=0)
    # phe ciphertexts (per-number exponents) come in aligned to the finest exponent
    phe_pk = pk.to_phe()
    imported = EncryptedVector.from_phe([phe_pk.encrypt(v) for v in EDGE], pk)
    np.testing.assert_allclose(imported.decrypt(sk), EDGE, rtol=1e-15)


def test_random_values_match_phe_with_homomorphic_ops(keys):
    pk, sk = keys
    rng = np.random.default_rng(7)
    a, b = rng.normal(scale=100, size=20), rng.normal(scale=100, size=20)
    scalars = rng.normal(size=20)
    va, vb = EncryptedVector.encrypt(pk, a), EncryptedVector.encrypt(sk, b, frac_bits=24)
    np.testing.assert_allclose((va + vb).decrypt(sk), a + b, atol=1e-6)
    np.testing.assert_allclose((va - vb).decrypt(sk), a - b, atol=1e-6)
    np.testing.assert_allclose((va + 2.5).decrypt(sk), a + 2.5, atol=1e-9)
    np.testing.assert_allclose((b - va).decrypt(sk), b - a, atol=1e-6)
    np.testing.assert_allclose((va * scalars).decrypt(sk), a * scalars, atol=1e-2)
    np.testing.assert_allclose((-va).decrypt(sk), -a, atol=1e-9)
    np.testing.assert_allclose(va.sum().decrypt(sk), [a.sum()], atol=1e-8)
    exact = va.mul(np.arange(20), frac_bits=0)
    assert exact.frac_bits == va.frac_bits
    np.testing.assert_allclose(exact.decrypt(sk), a * np.arange(20), atol=1e-8)
    # phe computing on our ciphertexts gives the same answers
    phe_sum = sum(va.to_phe()[1:], va.to_phe()[0])
    assert sk.to_phe().decrypt(phe_sum) == pytest.approx(a.sum(), abs=1e-8)
    with pytest.raises(CryptoError, match="multiply two ciphertexts"):
        va * vb


def test_largest_encodable_and_overflow(keys):
    pk, sk = keys
    top = int(pk.max_int)
    assert sk.raw_decrypt(pk.raw_encrypt(pk.encode_int(top))) == top
    assert pk.decode_int(sk.raw_decrypt(pk.raw_encrypt(pk.encode_int(-top)))) == -top
    with pytest.raises(EncodingOverflowError, match="exceeds the plaintext range"):
        pk.encode_int(top + 1)
    vec = EncryptedVector(pk, pk.raw_encrypt_many([pk.encode_int(top)] * 2), 0)
    with pytest.raises(EncodingOverflowError, match="overflowed"):
        vec.sum().decrypt(sk)  # 2 * max_int lands in the overflow band
    with pytest.raises(EncodingOverflowError):
        encode([float("nan")])
    with pytest.raises(OverflowError):  # EncodingOverflowError is also an OverflowError
        EncryptedVector.encrypt(pk, [1e300], frac_bits=800)


def test_wrong_key_and_malformed_ciphertexts(keys, other_keys):
    pk, sk = keys
    other_pk, other_sk = other_keys
    vec = EncryptedVector.encrypt(pk, [1.0, 2.0])
    with pytest.raises(KeyMismatchError, match=pk.fingerprint):
        EncryptedVector.from_bytes(vec.to_bytes(), other_pk)
    with pytest.raises(KeyMismatchError):
        vec + EncryptedVector.encrypt(other_pk, [1.0, 2.0])
    with pytest.raises(KeyMismatchError):
        vec.decrypt(other_sk)
    data = vec.to_bytes()
    with pytest.raises(MalformedCiphertextError, match="carries"):
        EncryptedVector.from_bytes(data[:-1], pk)
    with pytest.raises(MalformedCiphertextError, match="magic"):
        EncryptedVector.from_bytes(b"X" * len(data), pk)
    zero = bytes(pk.ciphertext_bytes)
    with pytest.raises(MalformedCiphertextError, match=r"not an integer in \(0, n\^2\)"):
        pk.ciphertexts_from_bytes(zero)
    with pytest.raises(MalformedCiphertextError, match=r"not an integer in \(0, n\^2\)"):
        pk.ciphertexts_from_bytes(int(pk.nsquare).to_bytes(pk.ciphertext_bytes, "big"))
    shares_factor = int(sk.p).to_bytes(pk.ciphertext_bytes, "big")
    with pytest.raises(MalformedCiphertextError, match="shares a factor"):
        pk.ciphertexts_from_bytes(shares_factor)
    with pytest.raises(MalformedCiphertextError, match="multiple"):
        pk.ciphertexts_from_bytes(b"\x01" * (pk.ciphertext_bytes + 3))
    assert EncryptedVector.from_bytes(data, pk).decrypt(sk).tolist() == [1.0, 2.0]


def test_xt_dot_matches_plaintext_and_rerandomize(keys):
    pk, sk = keys
    rng = np.random.default_rng(3)
    r = rng.normal(size=50)
    X = rng.normal(scale=3, size=(50, 4))
    enc = EncryptedVector.encrypt(pk, r, frac_bits=30)
    out = enc.xt_dot(X, frac_bits=16)
    assert out.frac_bits == 46
    exact = np.array(encode(X, 16), dtype=np.float64).reshape(X.shape).T @ np.array(encode(r, 30), dtype=np.float64)
    np.testing.assert_allclose(out.decrypt(sk), exact / 2.0**46, rtol=1e-12)
    again = out.rerandomize()
    assert list(again.ciphertexts) != list(out.ciphertexts)
    np.testing.assert_array_equal(again.decrypt(sk), out.decrypt(sk))


def test_xt_dot_integer_and_boolean_features_exact(keys):
    pk, sk = keys
    rng = np.random.default_rng(4)
    r = rng.integers(-1000, 1000, 80)
    X = (rng.random((80, 3)) < 0.2).astype(np.int8)
    X[:, 2] = rng.integers(-3, 4, 80)
    enc = EncryptedVector.encrypt(pk, r, frac_bits=0)
    assert enc.xt_dot(X, frac_bits=0).decrypt_ints(sk) == (X.T.astype(np.int64) @ r).tolist()
    assert enc.xt_dot(X[:, :2].astype(bool), frac_bits=0).decrypt_ints(sk) == (X[:, :2].T.astype(np.int64) @ r).tolist()
    assert enc.xt_dot(X, frac_bits=3).decrypt_ints(sk) == ((X.T.astype(np.int64) @ r) << 3).tolist()


def test_xt_dot_exponent_limits(keys):
    pk, _ = keys
    enc = EncryptedVector.encrypt(pk, [1.0, 2.0])
    for X in (np.array([[2.0**46], [0.0]]), np.array([[2**46], [0]]), np.array([[2**46], [0]], dtype=object)):
        with pytest.raises(EncodingOverflowError):
            enc.xt_dot(X, frac_bits=16)
    with pytest.raises(EncodingOverflowError):
        enc.xt_dot(np.array([[np.nan], [0.0]]))


def test_rerandomizations_keep_plaintexts_and_change_every_ciphertext(keys):
    """The owner-facing rerandomization multiplies by r^n (a uniform encryption of 0); the short one by h_s^r."""
    pk, sk = keys
    cts = pk.raw_encrypt_many([0, 1, 12345])
    with ThreadPoolExecutor(2) as threads:
        threaded = pk.rerandomize(cts, threads, parts=2)
    for name, out in (("full", pk.rerandomize(cts)), ("threads", threaded), ("short", pk.rerandomize_short(cts))):
        assert sk.raw_decrypt_many(out) == [0, 1, 12345], name
        assert all(a != b for a, b in zip(out, cts, strict=True)), name
        pk.check_ciphertexts(out, name)
    # 1 is the trivial encryption of 0: rerandomized, a fresh one
    ratio = pk.rerandomize([mpz(1)])[0]
    assert sk.raw_decrypt(ratio) == 0 and ratio != 1


def test_small_keys_need_the_process_test_switch(monkeypatch):
    """Protocols make keys with allow_insecure_key_length=insecure_test_keys(): no parameter reaches it."""
    from airflow_provider_powerfl.algorithms.hetero_lr.protocol import new_keypair

    monkeypatch.delenv(paillier.INSECURE_TEST_KEYS_ENV, raising=False)
    with pytest.raises(InsecureKeyError, match=f"1024 bits.*{paillier.INSECURE_TEST_KEYS_ENV}=1"):
        new_keypair(1024)
    monkeypatch.setenv(paillier.INSECURE_TEST_KEYS_ENV, "1")
    assert new_keypair(1024)[0].n_bits == 1024
