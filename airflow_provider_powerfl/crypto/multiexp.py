"""Multi-exponentiation prod_i c_i^{x_ij} for many columns j (X^T c in the exponent), bucket method.

Why: the hetero-LR gradient X^T [[r]] costs one ~4096-bit powmod per (row, feature) when done
naively. Pippenger's bucket method costs about ceil(b/w) multiplications per (row, feature)
for b-bit exponents, plus 2^(w+1) per window and column to combine buckets.

Signed exponents use an offset: prod c_i^{x_i} = prod c_i^{x_i + B} * (prod c_i)^{-B} with
B = -min(x); prod c_i and its inverse are shared by all columns, so each column costs
one extra powmod with a b-bit exponent and no per-row inversions.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError, MalformedCiphertextError

MAX_EXPONENT_BITS = 61  # digits are extracted with int64 numpy arithmetic


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
    arr = arr.astype(np.int64)
    if arr.size and np.max(np.abs(arr)) >> MAX_EXPONENT_BITS:
        raise EncodingOverflowError(f"multi-exponentiation exponents must satisfy |x| < 2^{MAX_EXPONENT_BITS}")
    return arr


def best_window(n_terms: int, bits: int) -> int:
    """Window width minimising ceil(b/w) * (n_terms + 2^(w+1)) multiplications (cost model, not tuned per CPU)."""
    return min(range(1, 17), key=lambda w: (-(-bits // w)) * (n_terms + (2 << w)))


def _bucket_power(bases: Sequence[mpz], exps: np.ndarray, modulus: mpz) -> mpz:
    """prod bases[i]^exps[i] for non-negative int64 exps."""
    top = int(exps.max()) if exps.size else 0
    if top == 0:
        return mpz(1)
    bits = top.bit_length()
    nonzero = np.flatnonzero(exps)
    w = best_window(len(nonzero), bits)
    mask = (1 << w) - 1
    result = None
    for t in reversed(range(-(-bits // w))):
        if result is not None:
            result = gmpy2.powmod(result, 1 << w, modulus)
        digits = (exps[nonzero] >> (w * t)) & mask
        buckets: list[mpz | None] = [None] * (mask + 1)
        for i, d in zip(nonzero.tolist(), digits.tolist()):
            if d:
                b = buckets[d]
                buckets[d] = bases[i] if b is None else b * bases[i] % modulus
        # sum_d d * B_d by running products, top bucket first
        running = acc = None
        for d in range(mask, 0, -1):
            b = buckets[d]
            if b is not None:
                running = b if running is None else running * b % modulus
            if running is not None:
                acc = running if acc is None else acc * running % modulus
        if acc is not None:
            result = acc if result is None else result * acc % modulus
    return mpz(1) if result is None else result


def multiexp_columns(
    bases: Sequence[mpz], exponents: np.ndarray | Sequence[Sequence[int]], modulus: int
) -> list[mpz]:
    """[prod_i bases[i]^exponents[i, j] mod modulus for each column j]; exponents signed, |x| < 2^61.

    Negative exponents need every base invertible modulo ``modulus`` (true for valid ciphertexts).
    """
    modulus = mpz(modulus)
    exps = _as_int64(exponents)
    if exps.shape[0] != len(bases):
        raise ValueError(f"{len(bases)} bases but exponents have {exps.shape[0]} rows")
    bases = [mpz(b) for b in bases]
    offsets = np.maximum(0, -exps.min(axis=0)) if exps.size else np.zeros(exps.shape[1], dtype=np.int64)
    inverse_product = None
    if np.any(offsets):
        product = mpz(1)
        for b in bases:
            product = product * b % modulus
        try:
            inverse_product = gmpy2.invert(product, modulus)
        except ZeroDivisionError as exc:
            raise MalformedCiphertextError("a base is not invertible modulo the modulus (malformed ciphertext)") from exc
    out = []
    for j in range(exps.shape[1]):
        offset = int(offsets[j])
        value = _bucket_power(bases, exps[:, j] + offset, modulus)
        if offset:
            value = value * gmpy2.powmod(inverse_product, offset, modulus) % modulus
        out.append(value)
    return out
