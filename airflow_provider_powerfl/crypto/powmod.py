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
from airflow_provider_powerfl.crypto.native_ints import from_native, to_native, width_of


def powmod_many(bases: Sequence[mpz], exponent: int, modulus: int) -> list[mpz]:
    """[b^exponent mod modulus for b in bases]; every base in [0, modulus), the modulus odd, the exponent >= 0."""
    modulus, exponent = mpz(modulus), mpz(exponent)
    if exponent < 0:
        raise ValueError("the exponent must not be negative")
    width = width_of(modulus)
    exponent_bytes = exponent.to_bytes(max(1, width_of(exponent)), "little")
    out = _powmod.powmod_many(to_native(bases, width, "the bases"), exponent_bytes, modulus.to_bytes(width, "little"))
    return from_native(out, width)


def powmod_each(bases: Sequence[mpz], exponents: Sequence[int] | np.ndarray, modulus: int) -> list[mpz]:
    """[b_i^e_i mod modulus]; bases in [0, modulus), |e_i| < 2^63 (a negative one inverts b_i), the modulus odd."""
    modulus = mpz(modulus)
    try:
        exps = np.ascontiguousarray(exponents, dtype=np.int64)
    except OverflowError as exc:
        raise ValueError("the exponents must fit a signed 64-bit integer") from exc
    if exps.shape != (len(bases),):
        raise ValueError(f"{len(bases)} bases but exponents of shape {exps.shape}")
    width = width_of(modulus)
    out = _powmod.powmod_each(to_native(bases, width, "the bases"), exps.tobytes(), modulus.to_bytes(width, "little"))
    return from_native(out, width)
