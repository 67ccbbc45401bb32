"""Per-feature statistics of one party's columns (local; NaN counts as missing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix


def feature_statistics(X: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """count, missing rate, mean, std, variance, min, quartiles, max and distinct values per feature."""
    X = as_matrix(X)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} features")
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        column = X[:, j]
        present = column[~np.isnan(column)]
        stats: dict[str, Any] = {"count": int(present.size), "missing_rate": 1.0 - present.size / column.size}
        if present.size:
            q1, median, q3 = np.quantile(present, [0.25, 0.5, 0.75])
            stats.update(
                mean=float(present.mean()),
                std=float(present.std()),
                variance=float(present.var()),
                min=float(present.min()),
                q1=float(q1),
                median=float(median),
                q3=float(q3),
                max=float(present.max()),
                unique=int(np.unique(present).size),
            )
        out[str(name)] = stats
    return out
