"""Model state <-> JSON, with numpy arrays kept exact (dtype, shape, values).

An array becomes ``{"__ndarray__": {"dtype": "float64", "shape": [..],
"data": [..]}}``; Python floats print with ``repr`` so float64 round-trips
bit for bit. Non-finite floats are written as ``NaN``/``Infinity`` (Python's
and Spark's JSON readers accept them; strict JSON parsers do not) because
model state legitimately holds them, e.g. the open ends of bin edges.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError

ARRAY_TAG = "__ndarray__"
_DTYPE_KINDS = "biuf"  # bool, signed, unsigned, float


def encode(value: Any, path: str = "model_state") -> Any:
    """``value`` made of JSON types only; the error names the path of what is not."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return encode(value.item(), path)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _DTYPE_KINDS:
            raise ConfigError(f"{path}: numpy dtype {value.dtype} cannot be stored (bool, int, uint or float only)")
        return {ARRAY_TAG: {"dtype": value.dtype.name, "shape": list(value.shape), "data": value.tolist()}}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{path}: key {key!r} is not a string")
            if key == ARRAY_TAG:
                raise ConfigError(f"{path}: key {ARRAY_TAG!r} is reserved")
            out[key] = encode(item, f"{path}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ConfigError(f"{path}: {type(value).__name__} cannot be stored")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (tuples come back as lists)."""
    if isinstance(value, dict):
        if set(value) == {ARRAY_TAG}:
            spec = value[ARRAY_TAG]
            return np.asarray(spec["data"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def dumps(value: Any, *, allow_nan: bool, path: str, indent: int | None = None) -> bytes:
    """Encode and serialise; ``allow_nan=False`` for files meant for any JSON reader."""
    try:
        return json.dumps(encode(value, path), allow_nan=allow_nan, indent=indent).encode("utf-8") + b"\n"
    except ValueError as exc:  # NaN/inf refused
        raise ConfigError(f"{path}: {exc}") from None
