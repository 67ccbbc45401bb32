"""Checks of estimator and transform parameters, shared by all algorithms (errors name the parameter).

Estimators take their parameters unchecked (scikit-learn's convention) and run these at fit.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError


def is_int(value: Any) -> bool:
    """An integer, numpy's included; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None, *, open_low: bool = False) -> float:
    """A finite number in [low, high] ((low, high] with open_low); either bound may be None."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if low is not None and high is not None:
            bound = f" in {'(' if open_low else '['}{low}, {high}]"
        elif low is not None:
            bound = f" {'>' if open_low else '>='} {low}"
        else:
            bound = "" if high is None else f" <= {high}"
        raise ConfigError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {'|'.join(choices)}, got {value!r}")
    return str(value)


def check_fitted(obj: object, attribute: str) -> None:
    """``obj`` has the fitted ``attribute`` (set by fit or from_dict)."""
    if not hasattr(obj, attribute):
        raise ConfigError(f"this {type(obj).__name__} is not fitted yet: call fit or from_dict first")
