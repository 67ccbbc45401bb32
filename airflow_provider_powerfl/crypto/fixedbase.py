"""Fixed-base windowed exponentiation: g^r for a fixed g and fresh short random r, using only multiplications.

Why: Paillier obfuscators h_s^r reuse one base millions of times. With a table of
g^(d * 2^(w*i)) for every w-bit digit d at every window position i, a power costs one
modular multiplication per window (no squarings). For 2048-bit keys (modulus n^2, 4096
bits) and 1024-bit exponents, w=10 was fastest per megabyte here (see docs/crypto/paillier.md).
"""

from __future__ import annotations

import os

import numpy as np
from gmpy2 import mpz

DEFAULT_WINDOW = 10


class FixedBase:
    """Powers of one base modulo one modulus, for exponents of at most ``exp_bits`` bits."""

    def __init__(self, base: int, modulus: int, exp_bits: int, window: int = DEFAULT_WINDOW) -> None:
        if not 1 <= window <= 16:
            raise ValueError(f"window must be 1..16 bits, got {window}")
        self.modulus = mpz(modulus)
        self.window = window
        self.n_windows = -(-exp_bits // window)
        # exponents drawn by random_power() are uniform below 2**exp_bits (a multiple of the window)
        self.exp_bits = self.n_windows * window
        self._rows = self._build(mpz(base) % self.modulus)

    def _build(self, base: mpz) -> list[list[mpz]]:
        mod = self.modulus
        rows = []
        step = base
        for _ in range(self.n_windows):
            row = [mpz(1), step]
            for _ in range(2, 1 << self.window):
                row.append(row[-1] * step % mod)
            rows.append(row)
            step = row[-1] * step % mod  # base^(2^(w*(i+1)))
        return rows

    def pow(self, exponent: int) -> mpz:
        """base^exponent mod modulus for 0 <= exponent < 2**exp_bits."""
        if exponent < 0 or exponent >> self.exp_bits:
            raise ValueError(f"exponent must be in [0, 2^{self.exp_bits})")
        mask = (1 << self.window) - 1
        e = int(exponent)
        digits = [(e >> (self.window * i)) & mask for i in range(self.n_windows)]
        return self.pow_digits(digits)

    def random_digits(self, count: int) -> np.ndarray:
        """``count`` x n_windows uniform w-bit digits from the OS CSPRNG (one uniform exponent per row)."""
        raw = np.frombuffer(os.urandom(2 * count * self.n_windows), dtype="<u2")
        return (raw & ((1 << self.window) - 1)).reshape(count, self.n_windows)

    def random_power(self) -> mpz:
        """base^r for a fresh uniform r in [0, 2**exp_bits)."""
        return self.pow_digits(self.random_digits(1)[0].tolist())

    def random_powers(self, count: int) -> list[mpz]:
        return [self.pow_digits(row) for row in self.random_digits(count).tolist()]

    def pow_digits(self, digits: list[int]) -> mpz:
        """base^(sum digits[i] * 2^(w*i)); the owner applies one digit row to its p^2 and q^2 tables."""
        mod = self.modulus
        acc = None
        for row, d in zip(self._rows, digits):
            if d:
                acc = row[d] if acc is None else acc * row[d] % mod
        return mpz(1) if acc is None else acc

