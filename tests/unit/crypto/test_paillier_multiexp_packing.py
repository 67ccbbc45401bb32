"""Bucket multi-exponentiation against naive powmods, fixed-base tables, and slot packing."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError, MalformedCiphertextError
from airflow_provider_powerfl.crypto.fixedbase import FixedBase
from airflow_provider_powerfl.crypto.multiexp import multiexp_columns
from airflow_provider_powerfl.crypto.packing import Packer
from airflow_provider_powerfl.crypto.paillier import generate_keypair
from airflow_provider_powerfl.exceptions import CryptoError

MODULUS = mpz(2**127 - 1) * mpz(2**89 - 1)  # odd, so small random bases are units


def _naive(bases, exps, modulus):
    out = []
    for j in range(exps.shape[1]):
        acc = mpz(1)
        for b, e in zip(bases, exps[:, j].tolist()):
            acc = acc * gmpy2.powmod(b, int(e), modulus) % modulus
        out.append(acc)
    return out


@pytest.mark.parametrize("bits", [1, 5, 13, 40, 61])
def test_multiexp_matches_naive(bits):
    rng = np.random.default_rng(bits)
    bases = [mpz(int(v)) | 1 for v in rng.integers(3, 2**62, 37)]
    high = 2 ** (bits - 1) if bits > 1 else 2
    exps = rng.integers(-high, high, size=(37, 3), dtype=np.int64)
    exps[0, 0] = 0
    exps[:, 2] = np.abs(exps[:, 2])  # a column that needs no offset
    assert multiexp_columns(bases, exps, MODULUS) == _naive(bases, exps, MODULUS)


def test_multiexp_many_rows_wide_and_binary_columns():
    # enough rows for several sort-and-prefix levels; 0/1, +-1, duplicates, one outlier
    rng = np.random.default_rng(7)
    rows = 600
    bases = [mpz(int(v)) | 1 for v in rng.integers(3, 2**62, rows)]
    exps = np.zeros((rows, 5), dtype=np.int64)
    exps[:, 0] = rng.integers(-(2**30), 2**30, rows)
    exps[:, 1] = rng.random(rows) < 0.1
    exps[:, 2] = rng.integers(-1, 2, rows)
    exps[:, 3] = rng.integers(0, 4, rows) << 16
    exps[:, 4] = rng.integers(0, 3, rows)
    exps[5, 4] = 2**60
    assert multiexp_columns(bases, exps, MODULUS) == _naive(bases, exps, MODULUS)


def test_multiexp_non_invertible_base_is_malformed():
    with pytest.raises(MalformedCiphertextError):
        multiexp_columns([mpz(2**127 - 1), mpz(3)], np.array([[-1], [1]]), MODULUS)


def test_multiexp_zero_and_limits():
    bases = [mpz(3), mpz(5)]
    assert multiexp_columns(bases, np.zeros((2, 2), dtype=np.int64), MODULUS) == [1, 1]
    with pytest.raises(EncodingOverflowError):
        multiexp_columns(bases, np.array([[2**62], [1]], dtype=object), MODULUS)
    with pytest.raises(ValueError, match="rows"):
        multiexp_columns(bases, np.zeros((3, 1), dtype=np.int64), MODULUS)


def test_multiexp_on_ciphertexts_decrypts_to_matvec():
    pk, sk = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    rng = np.random.default_rng(11)
    r = rng.integers(-1000, 1000, 30)
    X = rng.integers(-(2**20), 2**20, (30, 5))
    cts = pk.raw_encrypt_many([pk.encode_int(int(v)) for v in r])
    got = [pk.decode_int(m) for m in sk.raw_decrypt_many(multiexp_columns(cts, X, pk.nsquare))]
    assert got == (X.T.astype(object) @ r.astype(object)).tolist()


@pytest.mark.parametrize("teeth, tables", [(6, 17), (5, 3), (4, 1), (1, 1)])
def test_fixed_base_comb_matches_powmod(teeth, tables):
    table = FixedBase(7, MODULUS, exp_bits=100, teeth=teeth, tables=tables)
    assert table.exp_bits >= 100 and table.exp_bits == teeth * table.steps * tables
    for e in (0, 1, 2**99 + 12345, 2**table.exp_bits - 1):
        assert table.pow(e) == gmpy2.powmod(7, e, MODULUS)
        assert table.exponent_of(table.digits_of(e)) == e
    with pytest.raises(ValueError):
        table.pow(2**table.exp_bits)
    digits = table.random_digits(1)[0].tolist()
    assert len(digits) == table.n_digits and max(digits) < 2**teeth
    assert table.pow_digits(digits) == gmpy2.powmod(7, table.exponent_of(digits), MODULUS)


def test_packing_round_trip_and_sums_under_encryption():
    pk, sk = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    packer = Packer((2**20, 2**10), max_additions=8, plaintext_bits=pk.max_int.bit_length() - 1)
    rows = np.array([[2**20, -(2**10)], [-(2**20), 0], [123, -45]], dtype=object)
    packed = packer.pack(rows)
    np.testing.assert_array_equal(packer.unpack(packed), rows)
    nsq = pk.nsquare
    total = mpz(1)
    for c in pk.raw_encrypt_many(packed):
        total = total * c % nsq
    np.testing.assert_array_equal(packer.unpack([sk.raw_decrypt(total)], additions=3)[0], rows.sum(axis=0))


def test_packing_bounds_are_enforced():
    packer = Packer((10, 10), max_additions=2, plaintext_bits=64)
    with pytest.raises(EncodingOverflowError, match="slot 1 value -11 exceeds its bound 10"):
        packer.pack([[0, -11]])
    with pytest.raises(EncodingOverflowError, match="3 additions"):
        packer.unpack([0], additions=3)
    with pytest.raises(EncodingOverflowError, match="outside"):
        packer.unpack([1 << 64])
    with pytest.raises(EncodingOverflowError, match="holds 64"):
        Packer((2**40, 2**40), max_additions=1, plaintext_bits=64)
    with pytest.raises(CryptoError, match="shape"):
        packer.pack([[1, 2, 3]])
    # a field whose content exceeds additions * 2 * bound is reported, not misread
    width = packer.widths[0]
    with pytest.raises(EncodingOverflowError, match="slot 0"):
        packer.unpack([(1 << width) - 1], additions=1)
