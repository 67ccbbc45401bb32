"""What both SecureBoost estimators share: XGBoost-style parameters, the fitted trees and their scores, the input checks.

The plaintext reference (plaintext.py) and the federated estimator (estimator.py) both keep the
boosting result here, so the guest's model and the plaintext one score, predict and serialise alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.param_checks import check_params
from airflow_provider_powerfl.algorithms.secureboost.boosting import BoostParams, BoostResult
from airflow_provider_powerfl.algorithms.secureboost.objectives import Objective
from airflow_provider_powerfl.algorithms.secureboost.params import BoostingParams
from airflow_provider_powerfl.algorithms.secureboost.tree import LOCAL, Tree, TreeParams, route
from airflow_provider_powerfl.exceptions import ConfigError, DataError

_BOOST_PARAMS = tuple(BoostingParams.model_fields)


class BoostedTreesEstimator:
    """The base of both estimators: XGBoost-style parameters (checked at fit, each error naming its parameter) and
    the fitted trees' scores, predictions and state."""

    _PARAMS: tuple[str, ...] = _BOOST_PARAMS

    def _store(self, arguments: Mapping[str, Any]) -> None:
        """__init__'s arguments as attributes, unchanged (scikit-learn's convention; checked at fit)."""
        for name in self._PARAMS:
            setattr(self, name, arguments[name])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> BoostedTreesEstimator:
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def _validate_boost(self) -> None:
        check_params(BoostingParams, self)

    def _boost_params(self) -> BoostParams:
        tree = TreeParams(
            int(self.max_depth),
            float(self.reg_lambda),
            float(self.gamma),
            float(self.min_child_weight),
            float(self.learning_rate),
        )
        goss = (float(self.top_rate), float(self.other_rate)) if self.goss else None
        return BoostParams(int(self.n_estimators), tree, float(self.subsample), self.early_stopping_rounds, self.random_state,
                           goss, float(self.learning_rate))  # fmt: skip

    # -- fitted state shared by the guest and the plaintext model -----------------------------
    def _keep(self, objective: Objective, result: BoostResult) -> None:
        self.objective_ = objective
        self.trees_ = result.rounds
        self.init_score_ = result.init_score
        self.evals_result_ = result.eval_history
        self.best_iteration_ = result.best_iteration
        self.tree_seconds_ = result.tree_seconds
        split = np.zeros(self.n_features_in_, dtype=np.int64)
        gain = np.zeros(self.n_features_in_)
        remote: dict[str, dict[int, float]] = {}
        for trees in result.rounds:
            for tree in trees:
                for n in range(len(tree.left)):
                    if tree.is_leaf(n):
                        continue
                    if tree.owner[n] == LOCAL:
                        split[tree.split[n][0]] += 1
                        gain[tree.split[n][0]] += tree.gain[n]
                    else:
                        remote.setdefault(tree.owner[n], {})[int(tree.split[n])] = tree.gain[n]
        self.feature_importance_ = {"split": split, "gain": gain}
        self.host_split_gain_ = remote

    def _raw(self, X: np.ndarray, routers: Mapping[str, Any]) -> np.ndarray:
        flat = [t for trees in self.trees_ for t in trees]
        k = len(self.trees_[0]) if self.trees_ else 1
        leaves = route(flat, len(X), lambda f, thr, rows: X[rows, f] <= thr, routers)
        score = np.tile(self.init_score_, (len(X), 1))
        for i, tree in enumerate(flat):
            score[:, i % k] += np.asarray(tree.value)[leaves[i]]
        return score

    def _predict_from_raw(self, raw: np.ndarray) -> np.ndarray:
        out = self.objective_.transform(raw)
        if self.objective_.name == "binary:logistic":
            return (out > 0.5).astype(np.int64)
        if self.objective_.name == "multi:softprob":
            return out.argmax(axis=1)
        return out

    def _proba_from_raw(self, raw: np.ndarray) -> np.ndarray:
        if self.objective_.name == "reg:squarederror":
            raise ConfigError("predict_proba needs a classification objective, this model uses reg:squarederror")
        out = self.objective_.transform(raw)
        return np.column_stack([1.0 - out, out]) if out.ndim == 1 else out

    def _model_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective_.name,
            "n_classes": self.objective_.n_classes,
            "init_score": self.init_score_.tolist(),
            "trees": [[t.to_dict() for t in trees] for trees in self.trees_],
            "best_iteration": self.best_iteration_,
            "evals_result": list(self.evals_result_),
            "feature_importance": {k: v.tolist() for k, v in self.feature_importance_.items()},
        }

    def _load_model(self, state: Mapping[str, Any]) -> None:
        self.objective_ = Objective(str(state["objective"]), int(state["n_classes"]))
        self.init_score_ = np.asarray(state["init_score"], dtype=np.float64)
        self.trees_ = [[Tree.from_dict(t) for t in trees] for trees in state["trees"]]
        self.best_iteration_ = state["best_iteration"]
        self.evals_result_ = [float(v) for v in state["evals_result"]]
        self.feature_importance_ = {k: np.asarray(v) for k, v in state["feature_importance"].items()}
        self.n_features_in_ = len(self.feature_importance_["split"])


def check_X(X: Any, name: str, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite, non-empty 2-D float array (of ``n_features`` columns if given), or a DataError."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty 2-D array (rows x features), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values")
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(f"{name} has {arr.shape[1]} features, the model was fitted with {n_features}")
    return arr


def check_y(y: Any, n_rows: int) -> np.ndarray:
    """``y`` as ``n_rows`` finite floats, or a DataError (None too: labels are the guest's)."""
    if y is None:
        raise DataError("y is required at the guest")
    arr = np.asarray(y, dtype=np.float64).ravel()
    if arr.shape != (n_rows,):
        raise DataError(f"y has {arr.shape[0]} values for {n_rows} rows of X")
    if not np.all(np.isfinite(arr)):
        raise DataError("y contains NaN or infinite values")
    return arr


def check_eval(eval_set: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The guest's ``(X_eval, y_eval)``, checked as X and y are."""
    if not isinstance(eval_set, tuple | list) or len(eval_set) != 2:
        raise ConfigError("eval_set must be a pair (X_eval, y_eval) at the guest")
    X_eval = check_X(eval_set[0], "eval_set", n_features)
    return X_eval, check_y(eval_set[1], len(X_eval))
