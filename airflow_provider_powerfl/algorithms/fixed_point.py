"""Fixed-point scales of the hetero-LR protocol and the bounds that keep every sum inside the key.

Residual parts (0.25 u, 0.5 - y) travel at 2^-D_FRAC_BITS; with per-row factors on the
hosts' scores (class weights, slopes) each factor is encoded at 2^-WEIGHT_FRAC_BITS. A host
raises a factor to its 0.25 u at 2^-FACTORED_U_FRAC_BITS, so the residual on the hosts' path
stays at 2^-D_FRAC_BITS; the guest's own sums, where the factors ride in the exponents of the
hosts' 0.25 u at 2^-D_FRAC_BITS, carry both scales. The batch loss always travels at
2^-LOSS_FRAC_BITS. Feature columns become multi-exponentiation exponents: integer-valued
columns (e.g. one-hot 0/1) are used as they are, so X^T [[d]] is a product of ciphertexts;
other columns are encoded at 2^-X_FRAC_BITS. A party refuses to encrypt a partial score with
|0.25 u| of 2^U_BOUND_BITS or more (diverged weights), which bounds every later sum.
"""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.crypto.multiexp import MAX_EXPONENT_BITS
from airflow_provider_powerfl.exceptions import DataError

D_FRAC_BITS = 40  # 2^-40 ~ 9e-13 absolute precision of residuals
WEIGHT_FRAC_BITS = 16  # class weights are used rounded to 2^-16
X_FRAC_BITS = 20  # non-integer features rounded to 2^-20 ~ 1e-6 in the gradient products
U_BOUND_BITS = 20  # |0.25 u| per party must stay below 2^20
WEIGHT_BOUND_BITS = 16  # class weights must stay below 2^16
LOSS_FRAC_BITS = D_FRAC_BITS + WEIGHT_FRAC_BITS  # the loss terms' scale, with or without factors
# a host's 0.25 u as the exponent of a factor [[f]]: f 0.25 u lands at 2^-D_FRAC_BITS. Why not 2^-D_FRAC_BITS:
# the per-row power's cost grows with the exponent's bits (~26 instead of ~42 here: 0.6-0.7x), and the
# factor's own rounding (2^-16) already dominates this one (2^-24 ~ 6e-8)
FACTORED_U_FRAC_BITS = D_FRAC_BITS - WEIGHT_FRAC_BITS


def column_frac_bits(X: np.ndarray) -> np.ndarray:
    """0 for integer-valued columns, X_FRAC_BITS otherwise."""
    integral = np.all(X == np.rint(X), axis=0)
    return np.where(integral, 0, X_FRAC_BITS).astype(np.int64)


def encode_columns(X: np.ndarray, frac_bits: np.ndarray) -> np.ndarray:
    """int64 exponents round(X * 2^frac_bits_j); columns too large for the multi-exponentiation are refused."""
    scaled = np.rint(np.ldexp(X, frac_bits[np.newaxis, :]))
    too_big = np.flatnonzero(np.max(np.abs(scaled), axis=0, initial=0.0) >= 2.0**MAX_EXPONENT_BITS)
    if too_big.size:
        raise DataError(
            f"feature column {int(too_big[0])} is too large to encode (|x| * 2^{int(frac_bits[too_big[0]])} >= 2^{MAX_EXPONENT_BITS})"
        )
    return scaled.astype(np.int64)


def encode(values: np.ndarray, frac_bits: int) -> list[int]:
    """round(v * 2^frac_bits) as Python ints: at 2^-56 (LOSS_FRAC_BITS) |v| >= 128 would overflow int64."""
    return [int(v) for v in np.rint(np.ldexp(np.asarray(values, dtype=np.float64), frac_bits))]


def check_partial_score(u: np.ndarray, party: str) -> None:
    """Refuse partial scores the protocol's bounds do not cover (|0.25 u| >= 2^U_BOUND_BITS)."""
    if u.size and not np.max(np.abs(u)) < 2.0 ** (U_BOUND_BITS + 2):
        raise DataError(
            f"party {party}: a partial score |0.25 u| reached 2^{U_BOUND_BITS}; the weights diverged "
            "(lower learning_rate or standardise the features)"
        )


def encode_quarter_u(u: np.ndarray, party: str) -> list[int]:
    """0.25 u at 2^-D_FRAC_BITS after the bound check."""
    u = np.asarray(u, dtype=np.float64)
    check_partial_score(u, party)
    return encode(0.25 * u, D_FRAC_BITS)


def residual_bits(n_hosts: int, weighted: bool) -> int:
    """Bits of |d| at its scale: each of n_hosts + 1 parts below 2^U_BOUND_BITS, plus |m - y| <= 1, times a factor."""
    weight_bits = WEIGHT_BOUND_BITS + WEIGHT_FRAC_BITS if weighted else 0
    return D_FRAC_BITS + U_BOUND_BITS + (n_hosts + 2).bit_length() + weight_bits


def guest_residual_frac_bits(weighted: bool) -> int:
    """The residual's scale in the guest's own gradient sums (the hosts' path is always at D_FRAC_BITS)."""
    return D_FRAC_BITS + (WEIGHT_FRAC_BITS if weighted else 0)


def batch_sum_bits(batch_rows: int, factor_bits: int, residual: int) -> int:
    """Bits of |sum_i x_i d_i| over a batch with |x_i| < 2^factor_bits.

    Callers pass MAX_EXPONENT_BITS, not their features' actual size: the bound sets the
    packed slot width the key owner sees, which must not depend on the data.
    """
    return max(batch_rows, 1).bit_length() + factor_bits + residual


def column_sums(E: np.ndarray, values: list[int]) -> list[int]:
    """E^T v exactly, for int64 exponents E (rows x columns) and integers v.

    In int64 when no sum can reach 2^63 (rows * max|E| * max|v|), else with Python ints. Why:
    the object-dtype product of a 4,096 x 50 batch took ~150 ms holding the GIL; int64 ~1 ms.
    """
    top_v = max((abs(v) for v in values), default=0)
    top_e = int(np.max(np.abs(E), initial=0))
    if E.shape[0] * top_e * top_v < 2**63:
        return [int(s) for s in E.T @ np.asarray(values, dtype=np.int64)]
    return list(E.T.astype(object) @ np.asarray(values, dtype=object))
