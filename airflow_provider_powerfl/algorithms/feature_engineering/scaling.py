"""Local column transforms with persisted state: standard and min-max scaling, one-hot encoding.

Missing values (NaN) pass through the scalers as NaN and one-hot to all-zero columns, so a
later step decides what to do with them. Statistics come from the non-missing values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix, check_format
from airflow_provider_powerfl.algorithms.param_checks import check_fitted, check_int
from airflow_provider_powerfl.exceptions import DataError

STANDARD_FORMAT = "powerfl.standard_scaler/1"
MINMAX_FORMAT = "powerfl.minmax_scaler/1"
ONEHOT_FORMAT = "powerfl.onehot/1"


def _nan_stat(X: np.ndarray, fn: Any, empty: float) -> np.ndarray:
    out = np.full(X.shape[1], empty)
    present = ~np.isnan(X).all(axis=0)
    if present.any():
        out[present] = fn(X[:, present], axis=0)
    return out


class StandardScaler:
    """(x - mean) / std per feature; a constant feature keeps std 1 (it becomes 0)."""

    def fit(self, X: Any) -> StandardScaler:
        X = as_matrix(X)
        self.mean_ = _nan_stat(X, np.nanmean, 0.0)
        std = _nan_stat(X, np.nanstd, 1.0)
        std[std == 0] = 1.0
        self.scale_ = std
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "mean_")
        return (as_matrix(X, n_features=len(self.mean_)) - self.mean_) / self.scale_

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "mean_")
        return {"format": STANDARD_FORMAT, "mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> StandardScaler:
        check_format(state, STANDARD_FORMAT)
        scaler = cls()
        scaler.mean_, scaler.scale_ = _vectors(state, "mean", "scale")
        return scaler


class MinMaxScaler:
    """(x - min) / (max - min) per feature, so fitted rows land in [0, 1]; a constant feature becomes 0.

    :param clip: clip transformed values of later data into [0, 1].
    """

    def __init__(self, *, clip: bool = False) -> None:
        self.clip = clip

    def fit(self, X: Any) -> MinMaxScaler:
        X = as_matrix(X)
        self.min_ = _nan_stat(X, np.nanmin, 0.0)
        span = _nan_stat(X, np.nanmax, 1.0) - self.min_
        span[span <= 0] = 1.0
        self.scale_ = span
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "min_")
        out = (as_matrix(X, n_features=len(self.min_)) - self.min_) / self.scale_
        return np.clip(out, 0.0, 1.0) if self.clip else out

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "min_")
        return {"format": MINMAX_FORMAT, "clip": bool(self.clip), "min": self.min_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> MinMaxScaler:
        check_format(state, MINMAX_FORMAT)
        scaler = cls(clip=bool(state.get("clip", False)))
        scaler.min_, scaler.scale_ = _vectors(state, "min", "scale")
        return scaler


class OneHotEncoder:
    """One 0/1 column per category (distinct value seen at fit) of each feature.

    Values unseen at fit and missing values give all-zero columns.

    :param max_categories: refuse a feature with more distinct values than this (a continuous
        feature would explode into thousands of columns; bin it first).
    """

    def __init__(self, *, max_categories: int = 32) -> None:
        self.max_categories = max_categories

    def fit(self, X: Any) -> OneHotEncoder:
        check_int("max_categories", self.max_categories, 1)
        X = as_matrix(X)
        self.categories_ = []
        for j in range(X.shape[1]):
            values = np.unique(X[~np.isnan(X[:, j]), j])
            if values.size > self.max_categories:
                raise DataError(f"feature {j} has {values.size} distinct values, more than max_categories={self.max_categories}")
            self.categories_.append(values)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "categories_")
        X = as_matrix(X, n_features=len(self.categories_))
        blocks = [(X[:, j : j + 1] == cats[None, :]).astype(np.float64) for j, cats in enumerate(self.categories_)]
        return np.hstack(blocks) if blocks else np.empty((len(X), 0))

    def feature_names_out(self, names: Sequence[str]) -> list[str]:
        check_fitted(self, "categories_")
        return [f"{name}_{value:g}" for name, cats in zip(names, self.categories_, strict=True) for value in cats]

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "categories_")
        return {
            "format": ONEHOT_FORMAT,
            "max_categories": self.max_categories,
            "categories": [c.tolist() for c in self.categories_],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> OneHotEncoder:
        check_format(state, ONEHOT_FORMAT)
        try:
            encoder = cls(max_categories=int(state["max_categories"]))
            encoder.categories_ = [np.asarray(c, dtype=np.float64) for c in state["categories"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"one-hot state is incomplete or malformed: {exc!r}") from exc
        return encoder


def _vectors(state: Mapping[str, Any], *keys: str) -> tuple[np.ndarray, ...]:
    try:
        out = tuple(np.asarray(state[k], dtype=np.float64) for k in keys)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"scaler state is incomplete or malformed: {exc!r}") from exc
    if len({v.shape for v in out}) != 1 or out[0].ndim != 1:
        raise DataError(f"scaler state: {', '.join(keys)} must be vectors of one length")
    return out
