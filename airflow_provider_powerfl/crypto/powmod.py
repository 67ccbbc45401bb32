"""Powers of many bases mod m in native code (crypto/_powmod.c): to one exponent (the key owner's CRT
decryption, the Horner folds that pack ciphertexts) or each to its own (hetero LR's per-row [[f_i]]^(e_i)).

Why: gmpy2's powmod runs on the GMP that gmpy2 bundles; the extension runs on the GMP configured
for this CPU (scripts/gmp), 1.4x faster per product on this machine (docs/crypto/paillier.md),
without the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

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


def horner_fold(
    groups: Sequence[Sequence[mpz]], shift_bits: int, modulus: int, threads: Executor | None = None, parts: int = 1
) -> list[mpz]:
    """Each group [c_0, ..., c_k] as prod_j c_j^(2^(shift_bits j)) mod modulus, by Horner from its last member.

    Why: ciphertexts of small sums pack into one plaintext this way ([[a]]^(2^W) [[b]] = [[a 2^W + b]]:
    hetero LR's masked sums, SecureBoost's histograms). All groups take a step's squarings together in
    one native call, or in ``parts`` calls on ``threads``; every group must be non-empty.
    """
    modulus, shift = mpz(modulus), mpz(1) << shift_bits
    accs = [group[-1] for group in groups]
    for back in range(2, max(map(len, groups), default=0) + 1):
        live = [k for k, group in enumerate(groups) if len(group) >= back]
        bases = [accs[k] for k in live]
        if threads is None:
            squared = powmod_many(bases, shift, modulus)
        else:
            size = -(-len(bases) // parts)
            chunks = [bases[i : i + size] for i in range(0, len(bases), size)]
            squared = [v for part in threads.map(lambda chunk: powmod_many(chunk, shift, modulus), chunks) for v in part]
        for k, value in zip(live, squared, strict=True):
            accs[k] = value * groups[k][-back] % modulus
    return accs
