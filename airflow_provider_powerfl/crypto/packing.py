"""Packing several bounded signed integers into one Paillier plaintext (gradient/hessian pairs, histogram sums).

Slot s holds v + bound_s (so it is non-negative) in a field wide enough for ``max_additions``
packed plaintexts to be added homomorphically without carrying into the next slot. Values,
addition counts and the key's plaintext capacity are all checked; violations raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from airflow_provider_powerfl.crypto.errors import EncodingOverflowError
from airflow_provider_powerfl.exceptions import CryptoError


@dataclass(frozen=True)
class Packer:
    """``bounds[s]``: values in slot s satisfy |v| <= bounds[s] (already fixed-point encoded integers).

    ``max_additions``: how many packed plaintexts may be summed before unpacking.
    ``plaintext_bits``: usable plaintext bits of the key, e.g. ``public_key.max_int.bit_length() - 1``.
    """

    bounds: tuple[int, ...]
    max_additions: int = 1
    plaintext_bits: int = 2044
    widths: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        bounds = tuple(int(b) for b in self.bounds)
        if not bounds or min(bounds) < 0:
            raise CryptoError(f"Packer needs at least one non-negative bound, got {self.bounds}")
        if self.max_additions < 1:
            raise CryptoError(f"max_additions must be >= 1, got {self.max_additions}")
        # a slot sum lies in [0, max_additions * 2 * bound]
        widths = tuple((self.max_additions * 2 * b).bit_length() for b in bounds)
        if sum(widths) > self.plaintext_bits:
            raise EncodingOverflowError(
                f"{len(bounds)} slots need {sum(widths)} bits for {self.max_additions} additions; "
                f"the plaintext holds {self.plaintext_bits}"
            )
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "widths", widths)

    @property
    def slots(self) -> int:
        return len(self.bounds)

    def pack(self, values: np.ndarray | Sequence[Sequence[int]]) -> list[int]:
        """Rows of ``slots`` signed integers -> one non-negative integer per row (slot 0 lowest)."""
        rows = np.asarray(values, dtype=object)
        if rows.ndim != 2 or rows.shape[1] != self.slots:
            raise CryptoError(f"pack needs shape (n, {self.slots}), got {rows.shape}")
        out = []
        for row in rows.tolist():
            packed, shift = 0, 0
            for s, (v, bound, width) in enumerate(zip(row, self.bounds, self.widths, strict=True)):
                v = int(v)
                if abs(v) > bound:
                    raise EncodingOverflowError(f"slot {s} value {v} exceeds its bound {bound}")
                packed |= (v + bound) << shift
                shift += width
            out.append(packed)
        return out

    def unpack(self, packed: Sequence[int], additions: int = 1) -> np.ndarray:
        """Inverse of pack for sums of ``additions`` packed rows; returns an (n, slots) object array of ints."""
        if not 1 <= additions <= self.max_additions:
            raise EncodingOverflowError(f"{additions} additions exceed the {self.max_additions} this Packer was sized for")
        total_bits = sum(self.widths)
        out = np.empty((len(packed), self.slots), dtype=object)
        for i, value in enumerate(packed):
            value = int(value)
            if value < 0 or value >> total_bits:
                raise EncodingOverflowError(f"packed value {i} is outside the {total_bits}-bit packing")
            for s, (bound, width) in enumerate(zip(self.bounds, self.widths, strict=True)):
                field_value = value & ((1 << width) - 1)
                value >>= width
                if field_value > additions * 2 * bound:
                    raise EncodingOverflowError(f"slot {s} of packed value {i} overflowed its field")
                out[i, s] = field_value - additions * bound
        return out
