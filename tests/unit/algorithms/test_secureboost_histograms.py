"""A SecureBoost host's level histograms: the same products however the rows are cut, and as many results as parts, not chunks."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.secureboost.histograms import bin_products

NSQ = mpz(2**521 - 1)  # any odd modulus: the products are checked, not decrypted


class CountingMap:
    """A chunk map that runs in this thread and remembers how many items each call got."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        self.calls.append(len(items))
        return [fn(item) for item in items]


def _expected(gh: list[mpz], bins: np.ndarray, rows: np.ndarray, default: np.ndarray) -> tuple[mpz, list[dict[int, mpz]]]:
    total, per_bin = mpz(1), [{} for _ in range(bins.shape[1])]
    for r in rows.tolist():
        total = total * gh[r] % NSQ
        for f, b in enumerate(bins[r].tolist()):
            if b != default[f]:
                per_bin[f][b] = per_bin[f].get(b, mpz(1)) * gh[r] % NSQ
    return total, per_bin


def test_a_level_returns_one_histogram_per_part_and_node_whatever_the_rows() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    gh = [mpz(random.Random(i).getrandbits(520)) for i in range(n)]
    bins = rng.integers(0, 16, size=(n, 3)).astype(np.uint8)
    default = np.zeros(3, dtype=np.int64)
    assign = rng.integers(0, 3, size=n)
    row_sets = [np.flatnonzero(assign == k) for k in range(3)]
    row_ct = np.arange(n)
    for shared in (None, type("Broadcast", (), {"value": gh})()):
        chunk_map = CountingMap()
        got = bin_products(chunk_map, 50, 4, NSQ, gh, shared, row_ct, bins, row_sets, default)
        assert chunk_map.calls[0] <= 4 + len(row_sets)  # 40 chunks of 50 rows, returned as at most parts + nodes results
        assert got == [_expected(gh, bins, rows, default) for rows in row_sets]
