"""Multi-exponentiation prod_i c_i^{x_ij} mod N for many columns j (X^T c in the exponent).

Why: the hetero-LR gradient X^T [[r]] costs one ~4096-bit powmod per (row, feature) when done
naively. The work happens in the C extension ``_multiexp`` (GMP mpn Montgomery products, no
GIL): each column is shifted by its minimum or its dominant value (prod c^x = P^s prod c^(x-s),
P = prod_i c_i), then reduced by Bos-Coster's method (fold the base of the largest exponent
into the next one's, keep the remainder): about 3.15 products per entry at hetero LR's 1024
rows x 2^-20, one per nonzero entry of a 0/1 column. See docs/crypto/paillier.md. This module
converts between gmpy2 and the extension's fixed-width bytes and checks inputs. The same extension
multiplies ciphertexts per group (grouped_products: SecureBoost's histogram bins), also without the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto import _multiexp
from airflow_provider_powerfl.crypto.errors import EncodingOverflowError, MalformedCiphertextError
from airflow_provider_powerfl.crypto.native_ints import from_native, to_native, width_of

MAX_EXPONENT_BITS = 61  # exponents travel as int64; the extension needs |x| < 2^61 (x + K < 2^62)


def _as_int64(exponents: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    arr = np.asarray(exponents)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"exponents must be a 1-D or 2-D array, got shape {arr.shape}")
    if arr.dtype == object:
        if arr.size and max(abs(int(v)) for v in arr.ravel().tolist()) >> MAX_EXPONENT_BITS:
            raise EncodingOverflowError(f"multi-exponentiation exponents must satisfy |x| < 2^{MAX_EXPONENT_BITS}")
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"exponents must be integers (fixed-point encoded), got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >> MAX_EXPONENT_BITS:
        raise EncodingOverflowError(f"multi-exponentiation exponents must satisfy |x| < 2^{MAX_EXPONENT_BITS}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and np.max(np.abs(arr)) >> MAX_EXPONENT_BITS:
        raise EncodingOverflowError(f"multi-exponentiation exponents must satisfy |x| < 2^{MAX_EXPONENT_BITS}")
    return arr


def multiexp_columns(bases: Sequence[mpz], exponents: np.ndarray | Sequence[Sequence[int]], modulus: int) -> list[mpz]:
    """[prod_i bases[i]^exponents[i, j] mod modulus for each column j]; exponents signed, |x| < 2^61.

    ``modulus`` must be odd (Montgomery arithmetic; n^2 of a Paillier key is). Negative
    exponents need the product of all bases invertible modulo ``modulus`` (true for valid
    ciphertexts), otherwise MalformedCiphertextError.
    """
    modulus = mpz(modulus)
    exps = _as_int64(exponents)
    if exps.shape[0] != len(bases):
        raise ValueError(f"{len(bases)} bases but exponents have {exps.shape[0]} rows")
    if modulus < 3 or modulus % 2 == 0:
        raise ValueError(f"the modulus must be odd and at least 3, got {modulus}")
    width = width_of(modulus)
    blob = to_native(bases, width, "bases")
    try:
        out = _multiexp.multiexp_columns(blob, exps, modulus.to_bytes(width, "little"))
    except ZeroDivisionError as exc:
        raise MalformedCiphertextError("a base is not invertible modulo the modulus (malformed ciphertext)") from exc
    return from_native(out, width)


def grouped_products(bases: Sequence[mpz], rows: np.ndarray, groups: np.ndarray, n_groups: int, modulus: int) -> list[mpz]:
    """[prod of bases[rows[k]] over every k with groups[k] == g, mod modulus, for g < n_groups] (1 for an empty
    group): per bin, the product of its rows' ciphertexts; ``modulus`` odd, every base below it."""
    modulus = mpz(modulus)
    rows_i64, groups_i64 = np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(groups, dtype=np.int64)
    if rows_i64.shape != groups_i64.shape or rows_i64.ndim != 1:
        raise ValueError(f"rows {rows_i64.shape} and groups {groups_i64.shape} must be 1-D arrays of one length")
    width = width_of(modulus)
    blob = to_native(bases, width, "bases")
    out = _multiexp.grouped_products(
        blob, rows_i64.tobytes(), groups_i64.tobytes(), int(n_groups), modulus.to_bytes(width, "little")
    )
    return from_native(out, width)
