"""Histogram source over columns a party holds in the clear: the plaintext GBDT and the guest's own features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.secureboost.tree import LOCAL


class CandidateLayout:
    """Split candidates (feature, bin threshold t: bins <= t go left) of binned columns, feature-major."""

    def __init__(self, n_bins: np.ndarray) -> None:
        self.n_bins = np.asarray(n_bins, dtype=np.int64)
        self.width = int(self.n_bins.max()) if len(self.n_bins) else 1
        self.feature = np.repeat(np.arange(len(self.n_bins)), np.maximum(self.n_bins - 1, 0))
        self.threshold = np.concatenate([np.arange(b - 1) for b in self.n_bins]) if len(self.n_bins) else np.zeros(0, np.int64)
        self.flat = self.feature * self.width + self.threshold  # index into a (features, width) grid

    def __len__(self) -> int:
        return len(self.feature)


class LocalSource:
    """Plaintext per-bin sums: one bincount per node over (feature, bin); exact because values are integers."""

    def __init__(self, bins: np.ndarray, n_bins: np.ndarray, edges: tuple[np.ndarray, ...], owner: str = LOCAL) -> None:
        self.owner = owner
        self.bins = bins
        self.edges = edges
        self.layout = CandidateLayout(n_bins)
        self.n_candidates = len(self.layout)
        self._keys = (np.arange(bins.shape[1], dtype=np.int64) * self.layout.width)[None, :] + bins.astype(np.int64)
        self._pending: Any = None

    def start_tree(self, g: np.ndarray, h: np.ndarray, sample: np.ndarray) -> None:
        self._g, self._h, self._sample = g.astype(np.float64), h.astype(np.float64), sample

    def request_histograms(self, assign: np.ndarray, nodes: np.ndarray) -> None:
        self._pending = (
            np.stack([self._node_hist(np.flatnonzero((assign == n) & self._sample)) for n in nodes])
            if len(nodes)
            else np.zeros((0, self.n_candidates, 2))
        )
        self._assign = assign

    def _node_hist(self, rows: np.ndarray) -> np.ndarray:
        n_features = self.bins.shape[1]
        size = n_features * self.layout.width
        keys = self._keys[rows].ravel()
        out = np.empty((self.n_candidates, 2))
        for k, w in enumerate((self._g, self._h)):
            grid = np.bincount(keys, weights=np.repeat(w[rows], n_features), minlength=size).reshape(
                n_features, self.layout.width
            )
            out[:, k] = np.cumsum(grid, axis=1).ravel()[self.layout.flat]  # per feature: exact, |sum| < 2^52
        return out

    def collect_histograms(self) -> np.ndarray:
        return self._pending

    def request_splits(self, nodes: np.ndarray, candidates: np.ndarray, ties: Sequence[np.ndarray] = ()) -> None:
        out = []
        for n, c in zip(nodes.tolist(), candidates.tolist(), strict=True):
            f, t = int(self.layout.feature[c]), int(self.layout.threshold[c])
            rows = np.flatnonzero(self._assign == n)
            out.append(((f, float(self.edges[f][t])), self.bins[rows, f] <= t))
        self._pending = out

    def collect_splits(self) -> list[tuple[Any, np.ndarray]]:
        return self._pending
