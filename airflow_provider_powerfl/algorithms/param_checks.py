"""Checks of estimator and transform parameters and labels, shared by all algorithms (errors name the parameter).

Estimators take their parameters unchecked (scikit-learn's convention) and run these at fit.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from airflow_provider_powerfl.crypto.paillier import valid_key_length
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.validation import ModelT, parse


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


def check_key_length(value: Any) -> int:
    """A ``key_length`` parameter under the one key floor of this process (crypto.paillier.min_key_bits)."""
    bits = check_int("key_length", value, 2)
    try:
        return valid_key_length(bits)
    except ValueError as exc:
        raise ConfigError(f"key_length: {exc}") from None


def check_params(model: type[ModelT], estimator: object) -> ModelT:
    """An estimator's parameters checked by their typed model (the one the job contract uses at submit)."""
    values = {name: getattr(estimator, name) for name in model.model_fields}
    return parse(model, {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}, "")


def check_fitted(obj: object, attribute: str) -> None:
    """``obj`` has the fitted ``attribute`` (set by fit or from_dict)."""
    if not hasattr(obj, attribute):
        raise ConfigError(f"this {type(obj).__name__} is not fitted yet: call fit or from_dict first")


def check_binary_labels(y: Any, n_rows: int) -> np.ndarray:
    """The guest's labels of a binary model or transform: one 0 or 1 per row of X, as float64."""
    if y is None:
        raise DataError("y (0/1 labels) is required at the guest")
    arr = np.asarray(y, dtype=np.float64).ravel()
    if arr.shape != (n_rows,):
        raise DataError(f"y has {arr.shape[0]} labels for {n_rows} rows of X")
    if not np.all((arr == 0) | (arr == 1)):
        raise DataError("y must hold only the labels 0 and 1")
    return arr
