"""Integers in the native extensions' layout: little-endian, each in a fixed number of bytes, one bytes object.

Why one place: the multi-exponentiation, the comb and the powers (``_multiexp``, ``_fixedbase``,
``_powmod``) all take and return many residues of one modulus this way.
"""

from __future__ import annotations

from collections.abc import Sequence

from gmpy2 import mpz


def width_of(modulus: int) -> int:
    """Bytes per residue of ``modulus``."""
    return (int(modulus).bit_length() + 7) // 8


def to_native(values: Sequence[int], width: int, what: str) -> bytes:
    """``values`` as one blob; a negative value or one wider than ``width`` bytes raises ValueError naming ``what``."""
    try:
        return b"".join((v if type(v) is mpz else mpz(v)).to_bytes(width, "little") for v in values)
    except OverflowError as exc:
        raise ValueError(f"{what} must be integers in [0, modulus)") from exc


def from_native(blob: bytes, width: int) -> list[mpz]:
    """The residues of a blob the extensions returned."""
    return [mpz.from_bytes(blob[k : k + width], "little") for k in range(0, len(blob), width)]
