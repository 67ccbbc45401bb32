"""Parameter and input checks shared by the feature-engineering transforms (errors name the parameter)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, DataError


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None, *, open_low: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f" in {'(' if open_low else '['}{low}, {high}]" if low is not None else ""
        raise ConfigError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {'|'.join(choices)}, got {value!r}")
    return str(value)


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


def check_fitted(obj: object, attribute: str) -> None:
    if not hasattr(obj, attribute):
        raise ConfigError(f"this {type(obj).__name__} is not fitted yet: call fit or from_dict first")
