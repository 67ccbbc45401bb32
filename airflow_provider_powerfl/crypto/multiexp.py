"""Multi-exponentiation prod_i c_i^{x_ij} for many columns j (X^T c in the exponent), by sort-and-prefix.

Why: the hetero-LR gradient X^T [[r]] costs one ~4096-bit powmod per (row, feature) when done
naively. Here each column is a batched Bos-Coster reduction: sort the exponents, take running
products of the bases in that order, and the product becomes prod_k R_k^{gap_k} over the
distinct values, whose gaps are about log2(rows) bits narrower; repeat until few terms are
left, then finish with one shared square-and-multiply chain. Each level costs one multiplication per nonzero term, and
equal exponents merge for free, so 0/1 columns cost one multiplication per nonzero entry and
zeros cost nothing. For ~20-bit exponents over thousands of rows the whole column costs
about 2 to 3 multiplications per entry (the windowed bucket method needs 3 to 4).

Signs are split: prod c^{x} = prod_{x>0} c^{x} * (prod_{x<0} c^{-x})^{-1}, one inversion per
column that has negative entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError, MalformedCiphertextError

MAX_EXPONENT_BITS = 61  # exponents are handled as int64 numpy arrays
_FINISH_TERMS = 8  # at or below this many terms, one square-and-multiply chain beats another level
_MAX_LEVELS = 64  # the exponent sum falls strictly at every level; this caps pathological inputs


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
    arr = arr.astype(np.int64)
    if arr.size and np.max(np.abs(arr)) >> MAX_EXPONENT_BITS:
        raise EncodingOverflowError(f"multi-exponentiation exponents must satisfy |x| < 2^{MAX_EXPONENT_BITS}")
    return arr


def power_product(bases: Sequence[mpz], exps: np.ndarray, modulus: mpz) -> mpz:
    """prod bases[i]^exps[i] mod modulus for a 1-D int64 array of exps >= 0."""
    for _ in range(_MAX_LEVELS):
        keep = np.flatnonzero(exps)
        if keep.size <= _FINISH_TERMS:
            break
        values = exps[keep]
        order = np.argsort(values)[::-1]
        ranked = values[order]
        # last member of each run of equal exponents, in descending exponent order
        ends = np.empty(ranked.size, dtype=bool)
        np.not_equal(ranked[:-1], ranked[1:], out=ends[:-1])
        ends[-1] = True
        distinct = ranked[ends]
        gaps = distinct.copy()
        gaps[:-1] -= distinct[1:]
        # prod b^x = prod_k R_k^(v_k - v_{k+1}) with R_k the running product down to value v_k
        prefixes: list[mpz] = []
        append = prefixes.append
        acc = None
        for i, end in zip(keep[order].tolist(), ends.tolist()):
            acc = bases[i] if acc is None else acc * bases[i] % modulus
            if end:
                append(acc)
        bases, exps = prefixes, gaps
    else:
        keep = np.flatnonzero(exps)
    return _straus([bases[i] for i in keep.tolist()], exps[keep].tolist(), modulus)


def _straus(bases: list[mpz], exps: list[int], modulus: mpz) -> mpz:
    """prod bases[i]^exps[i] for a few terms: one shared chain of squarings (powmod's setup costs ~30 products)."""
    acc = None
    for bit in range(max(exps, default=0).bit_length() - 1, -1, -1):
        if acc is not None:
            acc = acc * acc % modulus
        for b, x in zip(bases, exps):
            if x >> bit & 1:
                acc = b if acc is None else acc * b % modulus
    return mpz(1) if acc is None else acc


def multiexp_columns(
    bases: Sequence[mpz], exponents: np.ndarray | Sequence[Sequence[int]], modulus: int
) -> list[mpz]:
    """[prod_i bases[i]^exponents[i, j] mod modulus for each column j]; exponents signed, |x| < 2^61.

    Negative exponents need the product of their bases invertible modulo ``modulus``
    (true for valid ciphertexts).
    """
    modulus = mpz(modulus)
    exps = _as_int64(exponents)
    if exps.shape[0] != len(bases):
        raise ValueError(f"{len(bases)} bases but exponents have {exps.shape[0]} rows")
    bases = [b if type(b) is mpz else mpz(b) for b in bases]
    out = []
    for column in exps.T:
        value = power_product(bases, np.maximum(column, 0), modulus)
        if column.min(initial=0) < 0:
            negative = power_product(bases, np.maximum(-column, 0), modulus)
            try:
                value = value * gmpy2.invert(negative, modulus) % modulus
            except ZeroDivisionError as exc:
                raise MalformedCiphertextError(
                    "a base is not invertible modulo the modulus (malformed ciphertext)"
                ) from exc
        out.append(value)
    return out
