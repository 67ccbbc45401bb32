"""Per-feature quantile bins for the trees (each party bins its own columns, locally).

A minimal binner private to SecureBoost: the feature-engineering binning writes WOE/IV
state for other steps, whereas the trees only need split points. Bin b of a feature holds
the values in (edges[b-1], edges[b]], so "bin <= t" is "value <= edges[t]" and a split
found on training bins routes unseen rows by comparing raw values with the same edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, DataError


@dataclass(frozen=True)
class QuantileBinner:
    """Split points per feature: at most ``max_bin`` bins, from quantiles (or the distinct values if fewer)."""

    edges: tuple[np.ndarray, ...]

    @classmethod
    def fit(cls, X: np.ndarray, max_bin: int) -> QuantileBinner:
        if max_bin < 2:
            raise ConfigError(f"max_bin must be >= 2, got {max_bin}")
        if max_bin > 65535:
            raise ConfigError(f"max_bin must be <= 65535 (bins are uint16), got {max_bin}")
        return cls(tuple(_edges(X[:, j], max_bin) for j in range(X.shape[1])))

    @property
    def n_bins(self) -> np.ndarray:
        return np.array([len(e) + 1 for e in self.edges], dtype=np.int64)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Bin index of every value (uint16), shape of X."""
        if X.shape[1] != len(self.edges):
            raise DataError(f"X has {X.shape[1]} features, the bins were fitted on {len(self.edges)}")
        out = np.empty(X.shape, dtype=np.uint16)
        for j, edges in enumerate(self.edges):
            out[:, j] = np.searchsorted(edges, X[:, j], side="left")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"edges": [e.tolist() for e in self.edges]}

    @classmethod
    def from_dict(cls, state: Mapping[str, Sequence[float]]) -> QuantileBinner:
        return cls(tuple(np.asarray(e, dtype=np.float64) for e in state["edges"]))


def _edges(column: np.ndarray, max_bin: int) -> np.ndarray:
    distinct = np.unique(column)
    if len(distinct) <= max_bin:
        return distinct[:-1].astype(np.float64)  # one bin per distinct value
    # upper edges at the inner quantiles; the last bin is open above
    points = np.quantile(column, np.arange(1, max_bin) / max_bin, method="lower")
    return np.unique(points).astype(np.float64)
