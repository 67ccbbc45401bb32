"""Fixed-point gradients and hessians, the packed (g, h) plaintext, and compressed histogram sums.

Why integers: every histogram sum is then exact, so the federated run (sums of decrypted
integers) and the plaintext run (sums of the same integers in float64) see bit-identical
numbers. The scale is chosen so any sum over the rows stays below 2^52 in magnitude, where
float64 holds integers exactly.

Packing: row i becomes ``h_i + g_i * 2^H_BITS`` with the non-negative hessian in the low
slot and the signed gradient on top, so a sum of k packed rows is ``sum h + (sum g) 2^H_BITS``
and splits back without knowing k (an offset-to-non-negative layout would need each bin's
row count at the guest to remove k offsets). Compression: the host folds ``per_ciphertext``
sums into one ciphertext as balanced base-2^SLOT_BITS digits, one decryption for many sums.
"""

from __future__ import annotations

import math

import numpy as np

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError

SUM_BITS = 52  # |any histogram sum| < 2^52: exact in float64
MAX_FRAC_BITS = 40
H_BITS = SUM_BITS + 1  # hessian slot: sums in [0, 2^52)
SLOT_BITS = H_BITS + SUM_BITS + 2  # one packed sum: |s| < 2^(H_BITS + SUM_BITS) + 2^SUM_BITS < 2^(SLOT_BITS - 1)


def frac_bits_for(values: np.ndarray, n_rows: int) -> int:
    """Largest scale (<= 2^-40) at which n_rows values of this magnitude sum below 2^52."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    peak = max(peak, 2.0**-MAX_FRAC_BITS)
    room = SUM_BITS - 1 - math.ceil(math.log2(max(n_rows, 1))) - math.ceil(math.log2(peak))
    return min(MAX_FRAC_BITS, room)


def quantize(values: np.ndarray, frac_bits: int) -> np.ndarray:
    """round(values * 2^frac_bits) as int64 (frac_bits may be negative for huge targets)."""
    return np.rint(np.ldexp(values, frac_bits)).astype(np.int64)


def pack_rows(g: np.ndarray, h: np.ndarray) -> list[int]:
    """Signed plaintexts h + g * 2^H_BITS (h >= 0)."""
    if h.size and (h.min() < 0 or h.max() >= 2**SUM_BITS):
        raise EncodingOverflowError("hessians must be quantized into [0, 2^52) before packing")
    return [hv + (gv << H_BITS) for gv, hv in zip(g.tolist(), h.tolist(), strict=True)]


def row_bound(n_rows: int) -> int:
    """Bound on any one row's |quantized g| and h when n_rows are sampled (frac_bits_for's headroom), known to hosts."""
    return 1 << (SUM_BITS - 1 - math.ceil(math.log2(max(n_rows, 1))))


def unpack_sum(value: int, signed_h: bool = False) -> tuple[int, int]:
    """(sum g, sum h) from a sum of packed rows; ``signed_h``: the host added noise, so sum h may be negative."""
    h = value & ((1 << H_BITS) - 1)
    if h >> SUM_BITS:
        if not signed_h:
            raise EncodingOverflowError("hessian sum overflowed its slot")
        h -= 1 << H_BITS
    return (value - h) >> H_BITS, h


def per_ciphertext(plaintext_bits: int) -> int:
    """How many packed sums one plaintext of a key holds (balanced digits of SLOT_BITS bits)."""
    count = plaintext_bits // SLOT_BITS
    if count < 1:
        raise EncodingOverflowError(f"a {plaintext_bits}-bit plaintext cannot hold one {SLOT_BITS}-bit packed sum")
    return count


def split_digits(value: int, count: int) -> list[int]:
    """Inverse of the host's compression: ``count`` balanced base-2^SLOT_BITS digits, lowest first."""
    half, mask = 1 << (SLOT_BITS - 1), (1 << SLOT_BITS) - 1
    out = []
    for _ in range(count):
        digit = value & mask
        if digit >= half:
            digit -= 1 << SLOT_BITS
        out.append(digit)
        value = (value - digit) >> SLOT_BITS
    if value:
        raise EncodingOverflowError("compressed histogram value has more digits than expected")
    return out
