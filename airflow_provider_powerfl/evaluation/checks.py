"""Input checks shared by the metric functions; errors name the argument at fault."""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, DataError


def vector(name: str, values: Any) -> np.ndarray:
    """A non-empty 1-D float vector with no NaN or infinity."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: not numeric ({exc})") from None
    if array.ndim != 1:
        raise DataError(f"{name}: expected a 1-D sequence, got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name}: empty")
    _finite(name, array)
    return array


def matrix(name: str, values: Any) -> np.ndarray:
    """A non-empty 2-D float matrix with no NaN or infinity."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: not numeric ({exc})") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{name}: expected a non-empty 2-D array, got shape {array.shape}")
    _finite(name, array)
    return array


def _finite(name: str, array: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(array.ravel()))
    if bad.size:
        first = np.unravel_index(bad[0], array.shape)
        where = first[0] if array.ndim == 1 else tuple(int(i) for i in first)
        raise DataError(f"{name}: {bad.size} value(s) are NaN or infinite, first at index {where} ({array.ravel()[bad[0]]})")


def same_length(a_name: str, a: Sized, b_name: str, b: Sized) -> None:
    if len(a) != len(b):
        raise DataError(f"{a_name} has {len(a)} values but {b_name} has {len(b)}")


def binary_labels(name: str, values: Any) -> np.ndarray:
    """Labels coded 0/1 (bools accepted) with both classes present, as int8."""
    array = vector(name, values)
    bad = np.unique(array[(array != 0) & (array != 1)])
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in bad[:5])
        raise DataError(f"{name}: labels must be 0 or 1, found {shown}")
    labels = array.astype(np.int8)
    positives = int(labels.sum())
    if positives in (0, labels.size):
        only = 1 if positives else 0
        raise DataError(f"{name}: all {labels.size} labels are {only}; AUC, KS and lift need both classes")
    return labels


def threshold(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"threshold: expected a finite number, got {value!r}")
    return float(value)


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


def loss_history(values: Sequence[float]) -> list[float]:
    """Per-epoch losses as a list of finite floats."""
    return [float(v) for v in vector("loss_history", values)]


def labels(name: str, values: Any) -> np.ndarray:
    """A non-empty 1-D vector of class labels (ints or strings), no missing values."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name}: expected a 1-D sequence, got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name}: empty")
    if array.dtype.kind == "f":
        _finite(name, array)
    elif array.dtype.kind == "O":
        missing = [i for i, v in enumerate(array) if v is None]
        if missing:
            raise DataError(f"{name}: missing label at index {missing[0]}")
    return array
