"""Powers of many bases mod m in native code (crypto/_powmod.c): to one exponent (the key owner's CRT
decryption) or each to its own (hetero LR's per-row [[f_i]]^(e_i)).

Why: gmpy2's powmod runs on the GMP that gmpy2 bundles; the extension runs on the GMP configured
for this CPU (scripts/gmp), 1.4x faster per product on this machine (docs/crypto/paillier.md),
without the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto import _powmod


def powmod_many(bases: Sequence[mpz], exponent: int, modulus: int) -> list[mpz]:
    """[b^exponent mod modulus for b in bases]; every base in [0, modulus), the modulus odd, the exponent >= 0."""
    modulus, exponent = mpz(modulus), mpz(exponent)
    if exponent < 0:
        raise ValueError("the exponent must not be negative")
    width = _width(modulus)
    out = _powmod.powmod_many(_blob(bases, width), exponent.to_bytes(max(1, (exponent.bit_length() + 7) // 8), "little"),
                              modulus.to_bytes(width, "little"))  # fmt: skip
    return _mpzs(out, width)


def powmod_each(bases: Sequence[mpz], exponents: Sequence[int] | np.ndarray, modulus: int) -> list[mpz]:
    """[b_i^e_i mod modulus]; bases in [0, modulus), |e_i| < 2^63 (a negative one inverts b_i), the modulus odd."""
    modulus = mpz(modulus)
    try:
        exps = np.ascontiguousarray(exponents, dtype=np.int64)
    except OverflowError as exc:
        raise ValueError("the exponents must fit a signed 64-bit integer") from exc
    if exps.shape != (len(bases),):
        raise ValueError(f"{len(bases)} bases but exponents of shape {exps.shape}")
    width = _width(modulus)
    return _mpzs(_powmod.powmod_each(_blob(bases, width), exps.tobytes(), modulus.to_bytes(width, "little")), width)


def _width(modulus: mpz) -> int:
    return (modulus.bit_length() + 7) // 8


def _blob(bases: Sequence[mpz], width: int) -> bytes:
    try:
        return b"".join(mpz(b).to_bytes(width, "little") for b in bases)
    except OverflowError as exc:
        raise ValueError("the bases must be integers in [0, modulus)") from exc


def _mpzs(out: bytes, width: int) -> list[mpz]:
    return [mpz.from_bytes(out[k : k + width], "little") for k in range(0, len(out), width)]
