"""Fixed-base exponentiation g^r by a Lim-Lee comb: fresh short random r, few multiplications per power.

Why: Paillier obfuscators h_s^r reuse one base millions of times. The exponent's bits are laid
out in ``teeth`` rows of a = tables * steps bits; table j holds, for every ``teeth``-bit digit u,
the product of g^(2^(i*a + j*steps)) over the set bits i of u. A power then costs
tables * steps multiplications and steps - 1 squarings (Lim and Lee, "More flexible
exponentiation with precomputation", CRYPTO '94). steps = 1 is the plain radix-2^teeth table;
a few squarings buy much wider digits for the same memory (see docs/crypto/paillier.md).
The table and the products live in the C extension ``_fixedbase`` (Montgomery form, GMP's
mpn layer, no GIL): ~4x the Python loop's speed at 2048 bits.
"""

from __future__ import annotations

import os

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto import _fixedbase
from airflow_provider_powerfl.crypto.native_ints import from_native

DEFAULT_TEETH = 15
DEFAULT_TABLES = 7


class FixedBase:
    """Powers of one base modulo one modulus, for exponents of at least ``exp_bits`` bits.

    Random exponents are drawn as digit matrices (steps x tables digits of ``teeth`` bits):
    uniform digits are exactly a uniform exponent below 2**self.exp_bits.
    """

    def __init__(self, base: int, modulus: int, exp_bits: int, teeth: int = DEFAULT_TEETH, tables: int = DEFAULT_TABLES) -> None:
        if not 1 <= teeth <= 16:
            raise ValueError(f"teeth must be 1..16 bits, got {teeth}")
        if tables < 1:
            raise ValueError(f"tables must be >= 1, got {tables}")
        self.modulus = mpz(modulus)
        self.teeth = teeth
        self.tables = tables
        digits = -(-exp_bits // teeth)  # ceil(exp_bits / teeth)
        self.steps = -(-digits // tables)  # ceil(digits / tables)
        self.row_bits = self.tables * self.steps  # a: bits per tooth row
        self.exp_bits = teeth * self.row_bits
        self.n_digits = self.steps * self.tables
        self._width = (self.modulus.bit_length() + 7) // 8
        self._modulus_bytes = self.modulus.to_bytes(self._width, "little")
        self._table = _fixedbase.comb_table(
            (mpz(base) % self.modulus).to_bytes(self._width, "little"), self._modulus_bytes, teeth, tables, self.steps
        )

    @property
    def entries(self) -> int:
        """Table size in modulus-sized numbers (memory ~ entries * modulus bytes)."""
        return self.tables << self.teeth

    def digits_of(self, exponent: int) -> list[int]:
        """The digit matrix of 0 <= exponent < 2**exp_bits, flat in pow_digits order."""
        if exponent < 0 or exponent >> self.exp_bits:
            raise ValueError(f"exponent must be in [0, 2^{self.exp_bits})")
        e = int(exponent)
        digits = []
        for t in range(self.steps):
            for j in range(self.tables):
                shift = j * self.steps + t
                digits.append(sum(((e >> (i * self.row_bits + shift)) & 1) << i for i in range(self.teeth)))
        return digits

    def exponent_of(self, digits: list[int]) -> int:
        """Inverse of digits_of."""
        e = 0
        for index, u in enumerate(digits):
            t, j = divmod(index, self.tables)
            for i in range(self.teeth):
                if u >> i & 1:
                    e |= 1 << (i * self.row_bits + j * self.steps + t)
        return e

    def pow(self, exponent: int) -> mpz:
        """base^exponent mod modulus for 0 <= exponent < 2**exp_bits."""
        return self.pow_digits(self.digits_of(exponent))

    def random_digits(self, count: int) -> np.ndarray:
        """``count`` x n_digits uniform digits from the OS CSPRNG (one uniform exponent per row)."""
        raw = np.frombuffer(os.urandom(2 * count * self.n_digits), dtype="<u2")
        return (raw & ((1 << self.teeth) - 1)).reshape(count, self.n_digits)

    def random_power(self) -> mpz:
        """base^r for a fresh uniform r in [0, 2**exp_bits)."""
        return self.powers(self.random_digits(1))[0]

    def random_powers(self, count: int) -> list[mpz]:
        return self.powers(self.random_digits(count))

    def pow_digits(self, digits: list[int]) -> mpz:
        """base^exponent_of(digits)."""
        return self.powers(np.asarray([digits], dtype=np.uint16))[0]

    def powers(self, digits: np.ndarray) -> list[mpz]:
        """base^exponent_of(row) for every row of a (count, n_digits) digit matrix; the owner applies
        one matrix to its p^2 and q^2 tables."""
        width = self._width
        out = _fixedbase.comb_powers(self._table, self._modulus_bytes, self.teeth, self.tables, self.steps,
                                     np.ascontiguousarray(digits, dtype=np.uint16))  # fmt: skip
        return from_native(out, width)
