"""Local binning of one party's features: quantile (equal frequency) or bucket (equal width).

Each feature j gets sorted inner edges e_0 < e_1 < ...; a value v falls in the first bin whose
upper edge is >= v (FATE's convention: ``v <= split point``), so there are ``len(edges) + 1``
value bins. A missing value (NaN) gets its own bin, the last one, index ``len(edges) + 1``.
Ties collapse edges, so a feature with few distinct values gets fewer bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix, check_format
from airflow_provider_powerfl.algorithms.param_checks import check_choice, check_fitted, check_int
from airflow_provider_powerfl.exceptions import DataError

FORMAT = "powerfl.binning/1"
METHODS = ("quantile", "bucket")


class Binner:
    """Fit per-feature edges on this party's rows; ``transform`` gives bin indices.

    :param method: "quantile" (edges at the 1/n_bins quantiles of the non-missing values) or
        "bucket" (n_bins equal-width intervals between the minimum and the maximum).
    :param n_bins: value bins at most per feature (the missing bin comes on top).
    """

    def __init__(self, *, method: str = "quantile", n_bins: int = 10) -> None:
        self.method = method
        self.n_bins = n_bins

    def fit(self, X: Any) -> Binner:
        check_choice("method", self.method, METHODS)
        check_int("n_bins", self.n_bins, 2)
        X = as_matrix(X)
        self.edges_ = [_edges(X[:, j], self.method, self.n_bins) for j in range(X.shape[1])]
        return self

    @property
    def n_features_(self) -> int:
        check_fitted(self, "edges_")
        return len(self.edges_)

    def bin_counts(self) -> np.ndarray:
        """Bins per feature, the missing bin included."""
        check_fitted(self, "edges_")
        return np.array([len(e) + 2 for e in self.edges_], dtype=np.int64)

    def transform(self, X: Any) -> np.ndarray:
        """Bin index of every value (int64, rows x features); NaN -> the feature's missing bin."""
        check_fitted(self, "edges_")
        X = as_matrix(X, n_features=len(self.edges_))
        out = np.empty(X.shape, dtype=np.int64)
        for j, edges in enumerate(self.edges_):
            column = X[:, j]
            out[:, j] = np.searchsorted(edges, column, side="left")
            out[np.isnan(column), j] = len(edges) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "edges_")
        return {
            "format": FORMAT,
            "method": self.method,
            "n_bins": self.n_bins,
            "edges": [[float(v) for v in e] for e in self.edges_],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Binner:
        check_format(state, FORMAT)
        try:
            binner = cls(method=str(state["method"]), n_bins=int(state["n_bins"]))
            binner.edges_ = [np.asarray(e, dtype=np.float64) for e in state["edges"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"binning state is incomplete or malformed: {exc!r}") from exc
        for j, e in enumerate(binner.edges_):
            if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
                raise DataError(f"binning state: edges of feature {j} must be finite and strictly increasing")
        return binner


def _edges(column: np.ndarray, method: str, n_bins: int) -> np.ndarray:
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.empty(0)
    low, high = values.min(), values.max()
    if low == high:
        return np.empty(0)
    if method == "bucket":
        inner = low + (high - low) * np.arange(1, n_bins) / n_bins
    else:
        inner = np.quantile(values, np.arange(1, n_bins) / n_bins, method="linear")
    # the maximum is the last bin's upper edge already; an edge equal to it would leave an empty bin
    return np.unique(inner[inner < high])
