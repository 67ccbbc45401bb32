"""Feature selection: by IV across parties (the guest decides) and by local statistics.

IV selection ranks every party's features together; the guest, which holds all IVs after
federated binning, sends each host only the keep/drop mask of that host's own features. A host
learns which of its features stay, nothing about the guest's or other hosts' features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix, check_format
from airflow_provider_powerfl.algorithms.feature_engineering.hetero_binning import HeteroFeatureBinning
from airflow_provider_powerfl.algorithms.param_checks import check_choice, check_fitted, check_int, check_real
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

IV_FORMAT = "powerfl.iv_selection/1"
STAT_FORMAT = "powerfl.statistic_selection/1"
IV_METHODS = ("threshold", "top_k", "percentile")


class HeteroIVSelector:
    """Keep features by IV across all parties; each party ends with the mask of its own features.

    :param party: this party's view of the job.
    :param method: "threshold" (IV >= threshold), "top_k" (the k highest IVs of all parties) or
        "percentile" (the ceil(percentile * total) highest IVs); the guest's values rule.
    :param threshold: IV threshold of "threshold" (0.02: FATE's default, "weak" predictors up).
    :param k: features kept by "top_k".
    :param percentile: share of features kept by "percentile", in (0, 1].
    :param timeout: seconds to wait for the guest's mask (host).
    """

    def __init__(
        self,
        *,
        party: Party | None = None,
        method: str = "threshold",
        threshold: float = 0.02,
        k: int = 10,
        percentile: float = 0.5,
        timeout: float | None = 600.0,
    ) -> None:
        self.party = party
        self.method = method
        self.threshold = threshold
        self.k = k
        self.percentile = percentile
        self.timeout = timeout

    def fit(self, binning: HeteroFeatureBinning) -> HeteroIVSelector:
        """Decide (guest) or learn (host) which of this party's features stay, from a fitted binning."""
        if not isinstance(self.party, Party) or self.party.role not in ("guest", "host"):
            raise ConfigError(f"party must be a Party with role 'guest' or 'host', got {self.party!r}")
        check_fitted(binning, "iv_")
        party = self.party
        if party.role == "guest":
            self._validate_guest()
            ivs = {party.party_id: np.asarray(binning.iv_)}
            ivs.update({h: np.asarray(v) for h, v in binning.host_iv_.items()})
            masks = select_by_iv(ivs, self.method, self.threshold, self.k, self.percentile)
            for host in party.peers("host"):
                if host not in masks:
                    raise ConfigError(f"the binning has no IVs of host {host}: fit HeteroFeatureBinning with this job's parties")
                party.send(host, "fe/select/mask", masks[host])
            self.support_ = masks[party.party_id]
        else:
            guest = party.peers("guest")[0]
            mask = party.recv(guest, "fe/select/mask", timeout=self.timeout)
            if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.shape != binning.iv_.shape:
                raise FederationError(
                    f"guest {guest} sent a malformed feature mask ({getattr(mask, 'shape', type(mask).__name__)})"
                )
            self.support_ = mask
        return self

    def _validate_guest(self) -> None:
        check_choice("method", self.method, IV_METHODS)
        if self.method == "threshold":
            check_real("threshold", self.threshold, 0.0)
        elif self.method == "top_k":
            check_int("k", self.k, 1)
        else:
            check_real("percentile", self.percentile, 0.0, 1.0, open_low=True)

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "support_")
        return as_matrix(X, n_features=len(self.support_))[:, self.support_]

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "support_")
        return {"format": IV_FORMAT, "method": self.method, "support": self.support_.tolist()}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, party: Party | None = None) -> HeteroIVSelector:
        check_format(state, IV_FORMAT)
        selector = cls(party=party, method=str(state.get("method")))
        selector.support_ = _support(state)
        return selector


def select_by_iv(
    ivs: Mapping[str, np.ndarray], method: str, threshold: float, k: int, percentile: float
) -> dict[str, np.ndarray]:
    """Keep masks per party for IVs ``{party: iv per feature}``; ties rank by party order, then feature."""
    ranked = sorted(((-float(v), p, j) for p, arr in ivs.items() for j, v in enumerate(arr)), key=lambda t: (t[0], t[1], t[2]))
    masks = {p: np.zeros(len(arr), dtype=bool) for p, arr in ivs.items()}
    if method == "threshold":
        keep = [(p, j) for neg, p, j in ranked if -neg >= threshold]
    else:
        count = k if method == "top_k" else math.ceil(percentile * len(ranked))
        keep = [(p, j) for _, p, j in ranked[:count]]
    for p, j in keep:
        masks[p][j] = True
    return masks


class StatisticSelector:
    """Local selection by this party's own statistics; a criterion left None is not applied.

    :param missing_rate_max: drop a feature whose share of missing (NaN) values exceeds this.
    :param variance_min: drop a feature whose variance (of its non-missing values) is below this.
    :param unique_min: drop a feature with fewer distinct non-missing values than this.
    """

    def __init__(
        self, *, missing_rate_max: float | None = None, variance_min: float | None = None, unique_min: int | None = None
    ) -> None:
        self.missing_rate_max = missing_rate_max
        self.variance_min = variance_min
        self.unique_min = unique_min

    def fit(self, X: Any) -> StatisticSelector:
        if self.missing_rate_max is not None:
            check_real("missing_rate_max", self.missing_rate_max, 0.0, 1.0)
        if self.variance_min is not None:
            check_real("variance_min", self.variance_min, 0.0)
        if self.unique_min is not None:
            check_int("unique_min", self.unique_min, 1)
        X = as_matrix(X)
        keep = np.ones(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            column = X[:, j]
            present = column[~np.isnan(column)]
            if self.missing_rate_max is not None and 1.0 - present.size / column.size > self.missing_rate_max:
                keep[j] = False
            if self.variance_min is not None and (present.size == 0 or present.var() < self.variance_min):
                keep[j] = False
            if self.unique_min is not None and np.unique(present).size < self.unique_min:
                keep[j] = False
        self.support_ = keep
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "support_")
        return as_matrix(X, n_features=len(self.support_))[:, self.support_]

    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "support_")
        return {
            "format": STAT_FORMAT,
            "missing_rate_max": self.missing_rate_max,
            "variance_min": self.variance_min,
            "unique_min": self.unique_min,
            "support": self.support_.tolist(),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> StatisticSelector:
        check_format(state, STAT_FORMAT)
        selector = cls(
            missing_rate_max=state.get("missing_rate_max"),
            variance_min=state.get("variance_min"),
            unique_min=state.get("unique_min"),
        )
        selector.support_ = _support(state)
        return selector


def _support(state: Mapping[str, Any]) -> np.ndarray:
    support = state.get("support")
    if not isinstance(support, list) or not all(isinstance(v, bool) for v in support):
        raise DataError(f"selection state: support must be a list of booleans, got {support!r}")
    return np.asarray(support, dtype=bool)
