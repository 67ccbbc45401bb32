"""Fixed-point encoding of signed floats as integers v = round(x * 2^frac_bits).

One scale per vector (not phe's per-number exponent) so sums need no alignment and
multi-exponentiation sees plain integers. A product with another fixed-point number
carries frac_bits_a + frac_bits_b. Range checks against a key happen in
PaillierPublicKey.encode_int / decode_int, which raise instead of wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError
from airflow_provider_powerfl.exceptions import CryptoError

# 2^-40 ~ 9.1e-13 absolute precision; with 2048-bit keys the plaintext holds |v| < 2^2045,
# i.e. |x| < 2^2005 at this scale, and a product of two such numbers (scale 2^-80) still
# leaves > 1900 bits of headroom for sums.
DEFAULT_FRAC_BITS = 40


def encode(values: float | Sequence[float] | np.ndarray, frac_bits: int = DEFAULT_FRAC_BITS) -> list[int]:
    """Signed integers round(x * 2^frac_bits) (ints are shifted exactly); NaN and inf are refused."""
    if frac_bits < 0:
        raise CryptoError(f"frac_bits must be >= 0, got {frac_bits}")
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype == object or np.issubdtype(arr.dtype, np.integer):
        flat = arr.ravel().tolist()
        if all(isinstance(v, int) for v in flat):
            return [v << frac_bits for v in flat]
        arr = arr.astype(np.float64)
    floats = np.asarray(arr, dtype=np.float64).ravel()
    if not np.all(np.isfinite(floats)):
        raise EncodingOverflowError("cannot encode NaN or infinite values")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(floats, frac_bits))
    if not np.all(np.isfinite(scaled)):
        raise EncodingOverflowError(f"value too large to encode with frac_bits={frac_bits}")
    if scaled.size and np.max(np.abs(scaled)) < 2.0**62:
        return scaled.astype(np.int64).tolist()
    return [int(v) for v in scaled.tolist()]


def encode_int64(values: np.ndarray, frac_bits: int, limit_bits: int) -> np.ndarray:
    """Like ``encode`` but an int64 array of the same shape, refusing |v| >= 2^limit_bits (limit_bits <= 62).

    For multi-exponentiation exponents: no per-element Python objects on the hot path.
    """
    if frac_bits < 0:
        raise CryptoError(f"frac_bits must be >= 0, got {frac_bits}")
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.array(encode(arr, frac_bits), dtype=object).reshape(arr.shape)
        if arr.size and max(abs(v) for v in arr.ravel().tolist()) >> limit_bits:
            raise EncodingOverflowError(f"encoded values must satisfy |v| < 2^{limit_bits}")
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        if arr.size and (max(abs(int(arr.max())), abs(int(arr.min()))) << frac_bits) >> limit_bits:
            raise EncodingOverflowError(f"encoded values must satisfy |v| < 2^{limit_bits}")
        return arr.astype(np.int64) << frac_bits
    floats = arr.astype(np.float64)
    if not np.all(np.isfinite(floats)):
        raise EncodingOverflowError("cannot encode NaN or infinite values")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(floats, frac_bits))
    if scaled.size and not np.max(np.abs(scaled)) < 2.0**limit_bits:
        raise EncodingOverflowError(f"encoded values must satisfy |v| < 2^{limit_bits} (frac_bits={frac_bits})")
    return scaled.astype(np.int64)


def decode(integers: Sequence[int], frac_bits: int) -> np.ndarray:
    """Floats v / 2^frac_bits (correctly rounded even for integers beyond 2^53)."""
    scale = 1 << frac_bits
    try:
        return np.array([int(v) / scale for v in integers], dtype=np.float64)
    except OverflowError as exc:
        raise EncodingOverflowError(f"decoded value does not fit a float64 at frac_bits={frac_bits}") from exc
