"""b^e mod m for many bases and one exponent, in native code (crypto/_powmod.c): the key owner's CRT decryption.

Why: gmpy2's powmod runs on the GMP that gmpy2 bundles; the extension runs on the GMP configured
for this CPU (scripts/gmp), 1.4x faster per product on this machine (docs/crypto/paillier.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from gmpy2 import mpz

from airflow_provider_powerfl.crypto import _powmod


def powmod_many(bases: Sequence[mpz], exponent: int, modulus: int) -> list[mpz]:
    """[b^exponent mod modulus for b in bases]; every base in [0, modulus), the modulus odd, the exponent >= 0."""
    modulus, exponent = mpz(modulus), mpz(exponent)
    if exponent < 0:
        raise ValueError("the exponent must not be negative")
    width = (modulus.bit_length() + 7) // 8
    try:
        blob = b"".join(mpz(b).to_bytes(width, "little") for b in bases)
    except OverflowError as exc:
        raise ValueError("the bases must be integers in [0, modulus)") from exc
    out = _powmod.powmod_many(blob, exponent.to_bytes(max(1, (exponent.bit_length() + 7) // 8), "little"),
                              modulus.to_bytes(width, "little"))  # fmt: skip
    return [mpz.from_bytes(out[k : k + width], "little") for k in range(0, len(out), width)]
