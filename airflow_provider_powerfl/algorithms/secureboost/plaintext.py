"""The plaintext SecureBoost reference: gradient-boosted trees on all the columns joined in one place."""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.param_checks import check_fitted
from airflow_provider_powerfl.algorithms.secureboost.base import BoostedTreesEstimator, check_eval, check_X, check_y
from airflow_provider_powerfl.algorithms.secureboost.binning import QuantileBinner
from airflow_provider_powerfl.algorithms.secureboost.boosting import boost
from airflow_provider_powerfl.algorithms.secureboost.local import LocalSource
from airflow_provider_powerfl.algorithms.secureboost.objectives import Objective
from airflow_provider_powerfl.algorithms.secureboost.tree import route
from airflow_provider_powerfl.exceptions import ConfigError


class GradientBoostedTrees(BoostedTreesEstimator):
    """Plaintext GBDT on all columns: the reference the federated run must match (same trees, same predictions).

    Parameters as in XGBoost: n_estimators, max_depth, learning_rate, max_bin, min_child_weight,
    reg_lambda, gamma (XGBoost's unhalved gain must exceed it), subsample, goss with top_rate and
    other_rate (LightGBM's gradient-based one-side sampling instead of subsample), early_stopping_rounds
    (needs eval_set in fit), objective ("binary:logistic", "reg:squarederror", "multi:softprob"),
    random_state (row subsampling).
    """

    def __init__(
        self, *, n_estimators: int = 100, max_depth: int = 6, learning_rate: float = 0.3, max_bin: int = 256,
        min_child_weight: float = 1.0, reg_lambda: float = 1.0, gamma: float = 0.0, subsample: float = 1.0,
        goss: bool = False, top_rate: float = 0.2, other_rate: float = 0.1,
        early_stopping_rounds: int | None = None, objective: str = "binary:logistic", random_state: int | None = None,
    ) -> None:  # fmt: skip
        self._store(locals())

    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> GradientBoostedTrees:
        self._validate_boost()
        X = check_X(X, "X")
        self.n_features_in_ = X.shape[1]
        y = check_y(y, len(X))
        objective = Objective.for_labels(self.objective, y)
        binner = QuantileBinner.fit(X, int(self.max_bin))
        source = LocalSource(binner.transform(X), binner.n_bins, binner.edges)
        evaluation = None
        if eval_set is not None:
            X_eval, y_eval = check_eval(eval_set, X.shape[1])
            evaluation = (lambda trees: route(trees, len(X_eval), lambda f, t, r: X_eval[r, f] <= t, {}), y_eval)
        elif self.early_stopping_rounds is not None:
            raise ConfigError("early_stopping_rounds needs an eval_set in fit")
        self._keep(objective, boost([source], y, objective, self._boost_params(), evaluation))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw scores (n, outputs)."""
        check_fitted(self, "feature_importance_")
        return self._raw(check_X(X, "X", self.n_features_in_), {})

    def predict(self, X: Any) -> np.ndarray:
        return self._predict_from_raw(self.decision_function(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._proba_from_raw(self.decision_function(X))
