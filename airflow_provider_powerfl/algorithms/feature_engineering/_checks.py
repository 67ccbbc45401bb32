"""Input and state checks shared by the feature-engineering transforms (parameter checks: algorithms.param_checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import DataError


def as_matrix(X: Any, *, n_features: int | None = None, allow_nan: bool = True) -> np.ndarray:
    """X as a float64 (rows x features) array; NaN marks a missing value, infinities are refused."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise DataError(f"X must be a non-empty 2-D array (rows x features), got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(f"X has {arr.shape[1]} features, the transform was fitted with {n_features}")
    if np.isinf(arr).any():
        raise DataError("X contains infinite values")
    if not allow_nan and np.isnan(arr).any():
        raise DataError("X contains missing (NaN) values, which this transform cannot take")
    return arr


def check_format(state: Mapping[str, Any], expected: str) -> None:
    if not isinstance(state, Mapping) or state.get("format") != expected:
        got = state.get("format") if isinstance(state, Mapping) else type(state).__name__
        raise DataError(f"state format must be {expected!r}, got {got!r}")
