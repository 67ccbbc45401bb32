"""Fixed point and slot layout of the encrypted interactive layer (docs/protocols/hetero_nn.md).

Per host, the interactive weights are W = V U: V (units x units) is the guest's secret, U the host's,
each entry rounded to 2^-FACTOR_FRAC_BITS with |entry| <= FACTOR_BOUND, so W's integer form at
2^-(2 FACTOR_FRAC_BITS) is exact. A row's h values (the host's part t = a W of the interactive layer's
input, or the gradient e = delta W^T that goes back) are integers at a public scale with a public bound;
a ciphertext holds ``rows`` such rows of ``units`` slots of ``width`` bits each, slot k of row q at bit
``width * (q * units + k)``, every slot offset by 2^bound so it is never negative. The decryptor then makes
one decryption per ``rows`` rows instead of one per value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airflow_provider_powerfl.exceptions import DataError, FederationError

FACTOR_FRAC_BITS = 10  # V and U entries at 2^-10
FACTOR_BOUND = 2.0  # |V_ij|, |U_ij| <= 2
VALUE_FRAC_BITS = 12  # a (host bottom output) and the guest's gradient rows at 2^-12
VALUE_BOUND_BITS = 6  # |a|, |gradient entry| < 2^6, checked before encoding


@dataclass(frozen=True)
class Layout:
    """Slots of one direction: ``units`` values per row, each |v| < 2^bound at 2^-frac."""

    units: int
    n_bits: int

    @property
    def frac(self) -> int:
        return VALUE_FRAC_BITS + 2 * FACTOR_FRAC_BITS

    @property
    def bound(self) -> int:
        """Bits of |sum_i x_i W_ij| over ``units`` terms: |x| < 2^(6+12), |W| <= units 2^(2 (10 + 1))."""
        factor = FACTOR_FRAC_BITS + int(FACTOR_BOUND).bit_length()
        return VALUE_BOUND_BITS + VALUE_FRAC_BITS + 2 * factor + 2 * (self.units.bit_length())

    @property
    def width(self) -> int:
        return self.bound + 1

    @property
    def rows(self) -> int:
        """Rows per ciphertext: the packed plaintext stays below 2^(n_bits - 3) < n / 3."""
        return max(1, (self.n_bits - 3) // self.width // self.units)

    def shift(self, row: int, unit: int) -> int:
        return self.width * (row * self.units + unit)

    def groups(self, n_rows: int) -> int:
        return -(-n_rows // self.rows)

    def offset(self) -> int:
        """The plaintext added to every packed ciphertext: 2^bound in each slot."""
        return sum(1 << (self.bound + self.shift(q, k)) for q in range(self.rows) for k in range(self.units))

    def check_fits(self) -> None:
        if self.rows * self.units * self.width > self.n_bits - 3:
            raise DataError(f"{self.units} interactive units need {self.units * self.width} bits per row; "
                            f"a {self.n_bits}-bit key holds {self.n_bits - 3}: lower interactive_units")  # fmt: skip

    def unpack(self, plain: list[int], n_rows: int, peer: str) -> np.ndarray:
        """(n_rows, units) floats from the decrypted packed plaintexts; a malformed one names ``peer``."""
        mask, out = (1 << self.width) - 1, np.empty((n_rows, self.units))
        top = self.rows * self.units * self.width
        for g, value in enumerate(plain):
            if value < 0 or value >> top:
                raise FederationError(f"party {peer} sent a packed value outside its {top}-bit layout")
            for q in range(min(self.rows, n_rows - g * self.rows)):
                for k in range(self.units):
                    slot = (value >> self.shift(q, k) & mask) - (1 << self.bound)
                    out[g * self.rows + q, k] = slot
        return np.ldexp(out, -self.frac)


def encode_values(x: np.ndarray, who: str) -> np.ndarray:
    """int64 round(x 2^VALUE_FRAC_BITS); values of 2^VALUE_BOUND_BITS or more are refused (diverged model)."""
    if x.size and not np.max(np.abs(x)) < 2.0**VALUE_BOUND_BITS:
        raise DataError(f"party {who}: an interactive-layer value reached 2^{VALUE_BOUND_BITS}; the model diverged "
                        "(lower learning_rate, or give the bottom model a bounded out_activation)")  # fmt: skip
    return np.rint(np.ldexp(x, VALUE_FRAC_BITS)).astype(np.int64)


def factor_ints(values: np.ndarray) -> np.ndarray:
    """A secret factor's entries clipped to FACTOR_BOUND and rounded to 2^-FACTOR_FRAC_BITS, as int64."""
    clipped = np.clip(values, -FACTOR_BOUND, FACTOR_BOUND)
    return np.rint(np.ldexp(clipped, FACTOR_FRAC_BITS)).astype(np.int64)


def orthogonal_factor(normal: np.ndarray) -> np.ndarray:
    """A Haar-random orthogonal secret factor (QR of a square of N(0, 1) entries, signs fixed) as ``factor_ints``:
    W = V U is then orthogonal up to the rounding, so e = g W^T keeps each row's norm (``defences.equalize``)."""
    q, r = np.linalg.qr(normal)
    return factor_ints(q * np.sign(np.diag(r)))


def factor_floats(ints: np.ndarray) -> np.ndarray:
    return np.ldexp(np.asarray(ints, dtype=np.float64), -FACTOR_FRAC_BITS)


def group_exponents(values: np.ndarray, layout: Layout) -> np.ndarray:
    """Exponents (units * rows, groups) of the rows' encoded values: base (k, q) of group g gets row g * rows + q."""
    n, units = values.shape
    groups = layout.groups(n)
    padded = np.zeros((groups * layout.rows, units), dtype=np.int64)
    padded[:n] = values
    # [g, q, k] -> [(k, q), g]
    return padded.reshape(groups, layout.rows, units).transpose(2, 1, 0).reshape(units * layout.rows, groups)
