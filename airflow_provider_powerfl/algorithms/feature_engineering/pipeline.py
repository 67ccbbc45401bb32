"""The feature-engineering step as one fitted object: filter -> binning (WOE/IV) -> IV selection -> transform.

Each stage is optional; its fitted state is kept per party, so the apply mode of the step (and
prediction) runs the very transform training saw, without talking to peers. Stage settings are
plain dicts (from the task spec's params) and every error names ``params.<stage>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix, check_format
from airflow_provider_powerfl.algorithms.feature_engineering.hetero_binning import HeteroFeatureBinning
from airflow_provider_powerfl.algorithms.feature_engineering.scaling import MinMaxScaler, OneHotEncoder, StandardScaler
from airflow_provider_powerfl.algorithms.feature_engineering.selection import HeteroIVSelector, StatisticSelector
from airflow_provider_powerfl.algorithms.param_checks import check_fitted
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.federation.party import Party

FORMAT = "powerfl.feature_engineering/1"
TRANSFORMS = ("none", "woe", "bin", "standard", "minmax", "onehot")
_LOCAL = {"standard": StandardScaler, "minmax": MinMaxScaler, "onehot": OneHotEncoder}
_FILTER_KEYS = ("missing_rate_max", "variance_min", "unique_min")
_BINNING_KEYS = ("method", "n_bins", "adjustment_factor", "shuffle_bins", "return_woe", "key_length")
_SELECT_KEYS = ("method", "threshold", "k", "percentile")
_TRANSFORM_KEYS = {"minmax": ("clip",), "onehot": ("max_categories",), "standard": ()}


class FeaturePipeline:
    """Fit and apply this party's feature-engineering stages.

    :param party: needed to fit ``binning`` or ``select`` (both federated), not to transform.
    :param filter: StatisticSelector settings (missing_rate_max, variance_min, unique_min) or None.
    :param binning: HeteroFeatureBinning settings (method, n_bins, adjustment_factor, shuffle_bins,
        return_woe, key_length) or None; gives WOE/IV of every party's features.
    :param select: HeteroIVSelector settings (method, threshold, k, percentile) or None; needs binning.
    :param transform: what the kept columns become: "none", "woe", "bin" (need binning),
        "standard", "minmax" or "onehot".
    :param transform_options: settings of the transform ("clip" for minmax, "max_categories" for onehot).
    :param executor: chunk map for the Paillier work of binning.
    :param timeout: seconds to wait for any one message of a peer.
    """

    def __init__(
        self,
        *,
        party: Party | None = None,
        filter: Mapping[str, Any] | None = None,  # noqa: A002 - the step's parameter name
        binning: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        transform: str = "none",
        transform_options: Mapping[str, Any] | None = None,
        executor: Any = None,
        timeout: float | None = 600.0,
    ) -> None:
        self.party = party
        self.filter = filter
        self.binning = binning
        self.select = select
        self.transform = transform
        self.transform_options = transform_options
        self.executor = executor
        self.timeout = timeout

    def check_params(self) -> None:
        """Raise a ConfigError naming the first bad setting (fit does this too; the job contract calls it at submit)."""
        for name, value, keys in (
            ("filter", self.filter, _FILTER_KEYS),
            ("binning", self.binning, _BINNING_KEYS),
            ("select", self.select, _SELECT_KEYS),
        ):
            _check_settings(name, value, keys)
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"params.transform: expected {'|'.join(TRANSFORMS)}, got {self.transform!r}")
        _check_settings("transform_options", self.transform_options, _TRANSFORM_KEYS.get(self.transform, ()))
        if self.binning is None and (self.select is not None or self.transform in ("woe", "bin")):
            raise ConfigError(
                f"params.binning: needed by {'params.select' if self.select is not None else 'params.transform=' + self.transform}"
            )

    def fit(self, X: Any, y: Any, feature_names: Sequence[str]) -> FeaturePipeline:
        """Fit every stage on this party's rows (y at the guest only); federated stages talk to peers."""
        self.check_params()
        X = as_matrix(X)
        names = [str(n) for n in feature_names]
        if len(names) != X.shape[1]:
            raise DataError(f"{len(names)} feature names for {X.shape[1]} columns")
        self.feature_names_in_ = names
        self.filter_ = _stage("filter", lambda: StatisticSelector(**self.filter).fit(X)) if self.filter is not None else None
        kept = self._filtered(X)
        self.binning_ = None
        if self.binning is not None:
            self.binning_ = _stage("binning", lambda: HeteroFeatureBinning(
                party=self.party, executor=self.executor, timeout=self.timeout, **self.binning).fit(kept, y))  # fmt: skip
        self.select_ = None
        if self.select is not None:
            self.select_ = _stage(
                "select", lambda: HeteroIVSelector(party=self.party, timeout=self.timeout, **self.select).fit(self.binning_)
            )
        self.local_ = None
        if self.transform in _LOCAL:
            options = dict(self.transform_options or {})
            self.local_ = _stage("transform", lambda: _LOCAL[self.transform](**options).fit(self._selected(kept)))
        self.feature_names_out_ = self._names_out()
        return self

    # -- applying -----------------------------------------------------------------------------
    def _filtered(self, X: np.ndarray) -> np.ndarray:
        return X if self.filter_ is None else self.filter_.transform(X)

    def _selected(self, X: np.ndarray) -> np.ndarray:
        return X if self.select_ is None else X[:, self.select_.support_]

    def _kept_names(self) -> list[str]:
        names = self.feature_names_in_
        if self.filter_ is not None:
            names = [n for n, k in zip(names, self.filter_.support_, strict=True) if k]
        if self.select_ is not None:
            names = [n for n, k in zip(names, self.select_.support_, strict=True) if k]
        return names

    def _names_out(self) -> list[str]:
        names = self._kept_names()
        if self.transform == "onehot":
            return self.local_.feature_names_out(names)
        return names

    def apply(self, X: Any) -> np.ndarray:
        """This party's rows through the fitted stages (local: no peer is needed)."""
        check_fitted(self, "feature_names_out_")
        X = self._filtered(as_matrix(X, n_features=len(self.feature_names_in_)))
        if self.transform == "woe":
            return self._selected(self.binning_.woe_transform(X))
        if self.transform == "bin":
            return self._selected(self.binning_.transform(X).astype(np.float64))
        X = self._selected(X)
        return X if self.local_ is None else self.local_.transform(X)

    def report(self) -> dict[str, Any]:
        """IV and WOE of this party's features (by name); the guest adds the hosts' IVs by feature index."""
        check_fitted(self, "feature_names_out_")
        out: dict[str, Any] = {"features_in": self.feature_names_in_, "features_out": self.feature_names_out_}
        if self.binning_ is not None:
            names = (
                [n for n, k in zip(self.feature_names_in_, self.filter_.support_, strict=True) if k]
                if self.filter_ is not None
                else self.feature_names_in_
            )
            kept = set(self._kept_names())
            woes = self.binning_.woe_
            out["features"] = {
                name: {"iv": float(iv), "woe": None if woes is None else woes[j].tolist(), "selected": name in kept}
                for j, (name, iv) in enumerate(zip(names, self.binning_.iv_, strict=True))
            }
            if self.binning_.role_ == "guest":
                out["hosts"] = {h: {"iv": v.tolist()} for h, v in self.binning_.host_iv_.items()}
        return out

    # -- state --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        check_fitted(self, "feature_names_out_")
        return {
            "format": FORMAT,
            "feature_names_in": self.feature_names_in_,
            "feature_names_out": self.feature_names_out_,
            "transform": self.transform,
            "filter": None if self.filter_ is None else self.filter_.to_dict(),
            "binning": None if self.binning_ is None else self.binning_.to_dict(),
            "select": None if self.select_ is None else self.select_.to_dict(),
            "local": None if self.local_ is None else self.local_.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> FeaturePipeline:
        check_format(state, FORMAT)
        try:
            pipeline = cls(transform=str(state["transform"]))
            pipeline.feature_names_in_ = [str(n) for n in state["feature_names_in"]]
            pipeline.feature_names_out_ = [str(n) for n in state["feature_names_out"]]
            pipeline.filter_ = None if state["filter"] is None else StatisticSelector.from_dict(state["filter"])
            pipeline.binning_ = None if state["binning"] is None else HeteroFeatureBinning.from_dict(state["binning"])
            pipeline.select_ = None if state["select"] is None else HeteroIVSelector.from_dict(state["select"])
            local = state["local"]
            pipeline.local_ = None if local is None else _LOCAL[pipeline.transform].from_dict(local)
        except (KeyError, TypeError) as exc:
            raise DataError(f"feature engineering state is incomplete or malformed: {exc!r}") from exc
        if pipeline.transform not in TRANSFORMS:
            raise DataError(f"feature engineering state: unknown transform {pipeline.transform!r}")
        return pipeline


def _check_settings(name: str, value: Any, keys: Sequence[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ConfigError(f"params.{name}: expected a mapping, got {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ConfigError(f"params.{name}.{unknown[0]}: unknown setting (known: {', '.join(keys) or 'none'})")


def _stage(name: str, fit: Any) -> Any:
    """Run one stage's fit; a parameter error is re-raised naming ``params.<stage>``."""
    try:
        return fit()
    except ConfigError as exc:
        raise ConfigError(f"params.{name}: {exc}") from exc
