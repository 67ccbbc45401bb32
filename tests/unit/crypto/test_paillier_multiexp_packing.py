"""Native multi-exponentiation against naive powmods and phe, fixed-base tables, and slot packing."""

from __future__ import annotations

import gmpy2
import numpy as np
import phe
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.crypto import _multiexp
from airflow_provider_powerfl.crypto.errors import EncodingOverflowError, MalformedCiphertextError
from airflow_provider_powerfl.crypto.fixedbase import FixedBase
from airflow_provider_powerfl.crypto.multiexp import MAX_EXPONENT_BITS, grouped_products, multiexp_columns
from airflow_provider_powerfl.crypto.packing import Packer
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.exceptions import CryptoError

MODULUS = mpz(2**127 - 1) * mpz(2**89 - 1)  # odd, so small random bases are units


def _naive(bases, exps, modulus):
    out = []
    for j in range(exps.shape[1]):
        acc = mpz(1)
        for b, e in zip(bases, exps[:, j].tolist(), strict=True):
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
    # enough rows for many Bos-Coster steps; 0/1, +-1, duplicates, one outlier
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


def test_multiexp_edge_exponents_and_shapes():
    top = 2**MAX_EXPONENT_BITS - 1
    rng = np.random.default_rng(3)
    bases = [mpz(int(v)) | 1 for v in rng.integers(3, 2**62, 9)]
    exps = np.array([[0, top, -top, 1, 0], [0, -top, -top, -1, 0], [0, 0, top, 0, 5]] + [[0, 1, -1, 2, 5]] * 6, dtype=np.int64)
    assert multiexp_columns(bases, exps, MODULUS) == _naive(bases, exps, MODULUS)
    assert multiexp_columns(bases[:1], exps[:1], MODULUS) == _naive(bases[:1], exps[:1], MODULUS)
    assert multiexp_columns(bases[:1], [-top], MODULUS) == [gmpy2.powmod(bases[0], -top, MODULUS)]  # 1-D: one column
    assert multiexp_columns([], np.zeros((0, 3), dtype=np.int64), MODULUS) == [1, 1, 1]
    assert multiexp_columns(bases, np.zeros((9, 0), dtype=np.int64), MODULUS) == []


def test_multiexp_columns_dominated_by_one_value():
    # standardized 0/1 features: most rows share one value, the others lie above or below it
    rng = np.random.default_rng(5)
    rows = 300
    bases = [mpz(int(v)) | 1 for v in rng.integers(3, 2**62, rows)]
    rare = rng.random((rows, 3)) < 0.1
    exps = np.where(rare, [7_000_000, -3_000_000, 0], [-800_000, 250_000, 12]).astype(np.int64)
    assert multiexp_columns(bases, exps, MODULUS) == _naive(bases, exps, MODULUS)


def test_multiexp_non_invertible_base_is_malformed():
    with pytest.raises(MalformedCiphertextError):
        multiexp_columns([mpz(2**127 - 1), mpz(3)], np.array([[-1], [1]]), MODULUS)
    # positive exponents never need an inverse
    got = multiexp_columns([mpz(2**127 - 1), mpz(3)], np.array([[2], [1]]), MODULUS)
    assert got == [gmpy2.powmod(2**127 - 1, 2, MODULUS) * 3 % MODULUS]


def test_multiexp_zero_and_limits():
    bases = [mpz(3), mpz(5)]
    assert multiexp_columns(bases, np.zeros((2, 2), dtype=np.int64), MODULUS) == [1, 1]
    with pytest.raises(EncodingOverflowError):
        multiexp_columns(bases, np.array([[2**62], [1]], dtype=object), MODULUS)
    with pytest.raises(EncodingOverflowError):
        multiexp_columns(bases, np.array([[-(2**61)], [1]], dtype=np.int64), MODULUS)
    with pytest.raises(ValueError, match="rows"):
        multiexp_columns(bases, np.zeros((3, 1), dtype=np.int64), MODULUS)


def test_multiexp_rejects_bad_inputs_clearly():
    bases = [mpz(3), mpz(5)]
    with pytest.raises(ValueError, match="1-D or 2-D"):
        multiexp_columns(bases, np.zeros((2, 1, 1), dtype=np.int64), MODULUS)
    with pytest.raises(ValueError, match="dtype float64"):
        multiexp_columns(bases, np.zeros((2, 1)), MODULUS)
    with pytest.raises(ValueError, match="odd"):
        multiexp_columns(bases, np.ones((2, 1), dtype=np.int64), MODULUS + 1)
    with pytest.raises(ValueError, match="base 1 is not reduced"):
        multiexp_columns([mpz(3), MODULUS], np.ones((2, 1), dtype=np.int64), MODULUS)
    with pytest.raises(ValueError, match=r"bases must be integers in \[0, modulus\)"):
        multiexp_columns([mpz(3), mpz(-5)], np.ones((2, 1), dtype=np.int64), MODULUS)
    # the extension itself checks what the wrapper normally guarantees
    width = (MODULUS.bit_length() + 7) // 8
    blob, mod = b"".join(b.to_bytes(width, "little") for b in bases), MODULUS.to_bytes(width, "little")
    with pytest.raises(TypeError, match="int64"):
        _multiexp.multiexp_columns(blob, np.ones((2, 1), dtype=np.int32), mod)
    with pytest.raises(TypeError, match="2-D"):
        _multiexp.multiexp_columns(blob, np.ones(2, dtype=np.int64), mod)
    with pytest.raises(OverflowError, match="row 1, column 0"):
        _multiexp.multiexp_columns(blob, np.array([[1], [2**61]], dtype=np.int64), mod)
    with pytest.raises(ValueError, match="expected 3 rows"):
        _multiexp.multiexp_columns(blob, np.ones((3, 1), dtype=np.int64), mod)


def test_multiexp_on_phe_ciphertexts_decrypts_with_phe():
    phe_pk, phe_sk = phe.generate_paillier_keypair(n_length=512)  # SPEED
    rng = np.random.default_rng(13)
    r = rng.integers(-(2**40), 2**40, 40).tolist()
    X = rng.integers(-(2**23), 2**23, (40, 6))
    X[:, 0] = 0
    X[0, 1], X[1, 1] = 2**MAX_EXPONENT_BITS - 1, -(2**MAX_EXPONENT_BITS - 1)
    X[:, 2] = rng.random(40) < 0.1
    cts = [mpz(phe_pk.encrypt(v).ciphertext()) for v in r]
    got = multiexp_columns(cts, X, mpz(phe_pk.nsquare))
    decrypted = [phe_sk.decrypt(phe.EncryptedNumber(phe_pk, int(c))) for c in got]
    assert decrypted == (X.T.astype(object) @ np.array(r, dtype=object)).tolist()


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


def test_multiexp_exponents_far_apart_equal_and_tiny():
    """Bos-Coster's uneven cases: quotients far above 1, equal exponents that merge, a lone term."""
    columns = [
        [1 << 60, 3, 1, 1, (1 << 60) - 1],
        [7, 7, 7, 7, 7],
        [0, 0, 0, 0, -(1 << 60)],
        [-5, 4, -3, 2, -1],
    ]
    exps = np.array(columns, dtype=np.int64).T
    bases = [mpz(3 + 2 * i) for i in range(exps.shape[0])]
    assert multiexp_columns(bases, exps, MODULUS) == _naive(bases, exps, MODULUS)


def test_grouped_products_match_python_products():
    rng = np.random.default_rng(3)
    modulus = mpz(2**521 - 1)  # odd, not prime-specific
    bases = [mpz(int(v)) % modulus for v in rng.integers(1, 2**62, size=9)] + [modulus - 1]
    rows = rng.integers(0, len(bases), size=40)
    groups = rng.integers(0, 6, size=40)  # group 6 of 7 stays empty
    expected = [mpz(1)] * 7
    for r, g in zip(rows, groups, strict=True):
        expected[g] = expected[g] * bases[r] % modulus
    assert grouped_products(bases, rows, groups, 7, modulus) == expected
    assert grouped_products([], np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2, modulus) == [1, 1]
    with pytest.raises(ValueError, match="out of range"):
        grouped_products(bases, np.array([10]), np.array([0]), 1, modulus)
    with pytest.raises(ValueError, match="out of range"):
        grouped_products(bases, np.array([0]), np.array([1]), 1, modulus)
    with pytest.raises(ValueError, match="not reduced"):
        grouped_products([modulus], np.array([0]), np.array([0]), 1, modulus)
