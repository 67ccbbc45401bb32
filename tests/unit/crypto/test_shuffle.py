"""secure_permutation: a permutation from the OS CSPRNG, uniform over all n! orders."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from airflow_provider_powerfl.crypto.shuffle import secure_permutation
from airflow_provider_powerfl.exceptions import CryptoError


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_is_a_permutation(n: int) -> None:
    perm = secure_permutation(n)
    assert perm.dtype == np.int64 and np.array_equal(np.sort(perm), np.arange(n))


def test_every_order_about_equally_often() -> None:
    draws = 6000
    counts = Counter(tuple(secure_permutation(3).tolist()) for _ in range(draws))
    assert len(counts) == 6
    chi2 = sum((c - draws / 6) ** 2 / (draws / 6) for c in counts.values())
    assert chi2 < 25.7  # chi-square, 5 degrees of freedom: p < 1e-4 of failing by chance


def test_fresh_each_call() -> None:
    assert not np.array_equal(secure_permutation(64), secure_permutation(64))


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_refuses_a_bad_count(n: object) -> None:
    with pytest.raises(CryptoError, match="n >= 0"):
        secure_permutation(n)  # type: ignore[arg-type]
