"""Hetero (vertical) logistic regression as a scikit-learn style estimator over the Party API.

Every party builds the same estimator around its own Party and calls ``fit`` with its own
columns (labels only at the guest); the parties meet through the messages of
hetero_lr.protocol. Each party ends with its own weights only. See docs/protocols/hetero_lr.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp
from airflow_provider_powerfl.algorithms.hetero_lr.defences import NOISE_BOUND, noise_scale
from airflow_provider_powerfl.algorithms.hetero_lr.guest import GuestSession
from airflow_provider_powerfl.algorithms.hetero_lr.host import HostSession
from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams, mode_average, mode_residual
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan, new_seed, tag
from airflow_provider_powerfl.algorithms.hetero_lr.strict_guest import StrictGuestSession
from airflow_provider_powerfl.algorithms.hetero_lr.strict_host import StrictHostSession
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.algorithms.paillier_kernels import Kernels, as_chunk_map
from airflow_provider_powerfl.algorithms.param_checks import check_binary_labels, check_fitted, check_params, check_real
from airflow_provider_powerfl.algorithms.progress import ProgressCallback
from airflow_provider_powerfl.algorithms.timed_party import TimedParty
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

MODEL_FORMAT = "powerfl.hetero_lr/1"


class HeteroLogisticRegression:
    """Binary logistic regression over columns split between a guest (labels) and hosts.

    :param party: this party's view of the job (role "guest" or "host").
    :param max_iter: epochs at most (the guest's value rules).
    :param batch_size: rows per mini-batch (the guest's value rules); batches are near-equal
        splits of the epoch's shuffled rows, each at least ``batch_size`` rows, or all rows if fewer.
        Default 4096: each gradient sum a host sees mixes that many rows' residuals.
    :param learning_rate: step size of the local optimizer.
    :param optimizer: "adam" or "sgd". Default SGD 1.0: its step shrinks with the noisy gradient, where
        Adam's keeps moving the host's weights by about the learning rate (docs/benchmarks/defaults.md).
    :param penalty: "l2", "l1" or None, applied by each party to its own weights (not the intercept).
    :param alpha: penalty strength (objective: mean approximated loss + alpha/2 ||w||^2, or alpha ||w||_1).
    :param residual: how the parties approximate sigmoid(u) - y with additive encryption only (the guest's
        value rules): "taylor" (FATE's 0.25 u + 0.5 - y) or "guest_expansion" (sigmoid(u_G) - y, exact at the
        guest, plus s_i u_H with per-row slopes s_i = sigmoid'(u_G,i), 0.25 until the first refresh).
        None (default): the mode's own, "guest_expansion" in the default mode, "taylor" in strict mode.
        See docs/protocols/hetero_lr.md.
    :param slope_every: "guest_expansion" only: the guest re-encrypts the slopes before every
        ``slope_every``-th epoch (None: never; default 5); each refresh costs one encryption per row, and from then on
        every batch costs one exponentiation per row at each party.
    :param tol: stop when the epoch loss changes by less than this (the guest's value rules).
    :param class_weight: None, "balanced" or {0: w0, 1: w1}; guest only.
    :param min_batch_size: this party refuses to train on batches smaller than this: a gradient
        over few rows reveals too much of the residual (and so of labels and peers' scores).
    :param key_length: bits of this party's Paillier key; peers' keys must be at least as long.
    :param random_state: seed of the batch order (guest); masks and keys always use the OS CSPRNG.
    :param executor: None (in-process), a concurrent.futures.Executor, or a ``map(fn, items)``
        callable that runs the Paillier chunk kernels (e.g. over Spark partitions).
    :param init_scale: guest: its secret random initial weights are N(0, init_scale^2 / (p_G + 1)), so a
        standardized guest score starts with spread ~init_scale (0: zeros, where the first batch gives
        every host X_H^T (0.5 - y) exactly, unless ``epsilon`` adds noise). Default 0: it lowered no measured
        attack, and with the noise it cost accuracy in some runs (docs/protocols/hetero_lr.md).
    :param min_support: the guest's value rules: per batch, a host adds nothing for a column whose
        support (rows off the column's most common value in the batch) is between 1 and min_support - 1,
        so no gradient sum isolates fewer rows (1: no check). Default 16.
    :param epsilon: guest: None, or (epsilon, delta)-DP of labels towards the hosts over all epochs:
        Gaussian noise on each row's residual in the hosts' gradients (removed from the guest's own);
        see ``noise_scale`` and docs/protocols/hetero_lr.md. Not with ``class_weight``. Default 10: with the
        other defaults the best measured host attack stays <= 0.55 AUC on default_credit and a9a within 0.005 AUC
        of centralized (docs/security.md).
    :param delta: the delta of ``epsilon``.
    :param privacy: "default", or "strict": the host's weights are secret-shared with the guest during training
        (FATE's SSHE-LR), so no party sees the host's gradient, weights or partial scores until the end, when
        the host gets its own weights. One guest and one host; needs optimizer="sgd", penalty "l2" or None,
        residual="taylor" and average 0 (its defaults there), no class_weight; ``min_support`` has nothing to act
        on (the host sees no gradient), ``epsilon`` still noises the host's gradient. Both parties must set it. See docs/protocols/hetero_lr.md.
    :param average: the guest's value rules: every party ends with the mean of its weights over the steps of the
        last ``average`` fraction of the epochs (0: the last weights; None, the default: 1 in the default mode, all
        the steps, 0 in strict mode). Post-processing: the accounting of ``epsilon`` holds, and the noise left in
        the last iterate averages out (docs/protocols/hetero_lr.md). Not in strict mode.
    :param timeout: seconds to wait for any one message of a peer (None: forever); a dead peer then
        fails the job with the federation's RecvTimeout naming peer, job and tag instead of hanging.
    :param progress: None, or a callable told a ``algorithms.progress.TrainingProgress`` (unit "epoch") at the
        start, after each mini-batch and after each epoch; the loss is the last epoch's (a host knows it from
        the guest's end-of-epoch message). Not part of the model's state.
    """

    def __init__(
        self,
        *,
        party: Party | None = None,
        max_iter: int = 10,
        batch_size: int = 4096,
        learning_rate: float = 1.0,
        optimizer: str = "sgd",
        penalty: str | None = "l2",
        alpha: float = 0.01,
        tol: float = 1e-4,
        class_weight: str | Mapping[int, float] | None = None,
        min_batch_size: int = 64,
        key_length: int = 2048,
        random_state: int | None = None,
        executor: Any = None,
        timeout: float | None = 600.0,
        residual: str | None = None,
        slope_every: int | None = 5,
        init_scale: float = 0.0,
        min_support: int = 16,
        epsilon: float | None = 10.0,
        delta: float = 1e-5,
        privacy: str = "default",
        average: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.party = party
        self.progress = progress
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.penalty = penalty
        self.alpha = alpha
        self.tol = tol
        self.class_weight = class_weight
        self.min_batch_size = min_batch_size
        self.key_length = key_length
        self.random_state = random_state
        self.executor = executor
        self.timeout = timeout
        self.residual = residual
        self.slope_every = slope_every
        self.init_scale = init_scale
        self.min_support = min_support
        self.epsilon = epsilon
        self.delta = delta
        self.privacy = privacy
        self.average = average

    _PARAMS = (
        "max_iter", "batch_size", "learning_rate", "optimizer", "penalty", "alpha", "tol",
        "class_weight", "min_batch_size", "key_length", "random_state", "executor", "timeout", "residual",
        "slope_every", "init_scale", "min_support", "epsilon", "delta", "privacy", "average",
    )  # fmt: skip

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"party": self.party, "progress": self.progress, **{name: getattr(self, name) for name in self._PARAMS}}

    def set_params(self, **params: Any) -> HeteroLogisticRegression:
        for name, value in params.items():
            if name not in ("party", "progress") and name not in self._PARAMS:
                raise ConfigError(f"HeteroLogisticRegression has no parameter {name!r}")
            setattr(self, name, value)
        return self

    # -- validation ---------------------------------------------------------------------------
    def _validate(self) -> None:
        if not isinstance(self.party, Party) or self.party.role not in ("guest", "host"):
            raise ConfigError(f"party must be a Party with role 'guest' or 'host', got {self.party!r}")
        check_params(HeteroLRParams, self)
        if self.timeout is not None:
            check_real("timeout", self.timeout, 0, open_low=True)
        if self.class_weight is not None and self.party.role != "guest":
            raise ConfigError("class_weight is a guest parameter (it depends on labels); leave it None at a host")
        as_chunk_map(self.executor)  # names a bad executor

    def _row_weights(self, y: np.ndarray) -> np.ndarray | None:
        cw = self.class_weight
        if cw is None:
            return None
        if cw == "balanced":
            counts = np.bincount(y.astype(np.int64), minlength=2)
            per_class = len(y) / (2.0 * counts)
        elif isinstance(cw, Mapping) and set(cw) <= {0, 1}:
            per_class = np.array([cw.get(0, 1.0), cw.get(1, 1.0)], dtype=np.float64)
        else:
            raise ConfigError(f"class_weight must be None, 'balanced' or a dict over classes {{0, 1}}, got {cw!r}")
        limit = 2.0**fp.WEIGHT_BOUND_BITS
        if not np.all((per_class >= 2.0**-fp.WEIGHT_FRAC_BITS) & (per_class < limit)):
            raise ConfigError(
                f"class_weight values must lie in [2^-{fp.WEIGHT_FRAC_BITS}, 2^{fp.WEIGHT_BOUND_BITS}), got {per_class.tolist()}"
            )
        return per_class[y.astype(np.int64)]

    # -- training -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> HeteroLogisticRegression:
        """Train jointly with the peers; y (0/1 labels) only at the guest."""
        self._validate()
        party = TimedParty(self.party, self.timeout)
        X = self._check_X(X, reset=True)
        kernels = Kernels(self.executor)
        if party.role == "guest":
            y = _check_y(y, len(X))
            n_rows = len(X)
            if n_rows < self.min_batch_size:
                raise DataError(f"{n_rows} rows are fewer than min_batch_size={self.min_batch_size}")
            seed = self.random_state if self.random_state is not None else new_seed()
            row_weights = self._row_weights(y)
            plan = BatchPlan(n_rows, min(self.batch_size, n_rows), self.max_iter, float(self.tol), int(seed),
                             row_weights is not None, mode_residual(self.privacy, self.residual),
                             int(self.slope_every or 0), int(self.min_support), mode_average(self.privacy, self.average))  # fmt: skip
            penalized = np.r_[np.ones(X.shape[1]), 0.0]
            noise = 0.0 if self.epsilon is None else noise_scale(float(self.epsilon), float(self.delta), self.max_iter)
            if noise > NOISE_BOUND / 32:  # the clip must stay far out in the tail, or the accounting would not hold
                raise ConfigError(f"epsilon={self.epsilon} over max_iter={self.max_iter} epochs needs noise sigma {noise:.0f}, "
                                  f"above {NOISE_BOUND / 32:.0f}: raise epsilon or lower max_iter")  # fmt: skip
            guest_cls = StrictGuestSession if self.privacy == "strict" else GuestSession
            session = guest_cls(party, X, y, row_weights, plan, self._update(penalized), self.min_batch_size,
                                self.key_length, kernels, float(self.init_scale), noise)  # fmt: skip
            session.progress = self.progress
            result = session.fit()
            self.coef_ = result.weights[:-1]
            self.intercept_ = float(result.weights[-1])
        else:
            if y is not None:
                raise ConfigError(f"y must be None at host {party.party_id}: labels live at the guest")
            host_cls = StrictHostSession if self.privacy == "strict" else HostSession
            session = host_cls(party, X, self._update(np.ones(X.shape[1])), self.min_batch_size, self.key_length, kernels)
            session.progress = self.progress
            result = session.fit()
            self.coef_ = result.weights
            self.intercept_ = None
        self.role_ = party.role
        self.n_iter_ = result.n_iter
        self.loss_history_ = result.loss_history
        self.x_frac_bits_ = session.frac_bits[: X.shape[1]].tolist()
        return self

    def _update(self, penalized: np.ndarray) -> LocalUpdate:
        return LocalUpdate(self.optimizer, float(self.learning_rate), self.penalty, float(self.alpha), penalized)

    def _check_X(self, X: Any, *, reset: bool) -> np.ndarray:
        columns = getattr(X, "columns", None)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise DataError(f"X must be a non-empty 2-D array (rows x features), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise DataError("X contains NaN or infinite values")
        if reset:
            self.n_features_in_ = arr.shape[1]
            if columns is not None:
                self.feature_names_in_ = np.asarray([str(c) for c in columns], dtype=object)
        elif arr.shape[1] != self.n_features_in_:
            raise DataError(f"X has {arr.shape[1]} features, the model was fitted with {self.n_features_in_}")
        return arr

    # -- prediction ---------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray | None:
        """Guest: u = u_G + sum of hosts' partial scores; hosts send theirs and return None."""
        check_fitted(self, "coef_")
        X = self._check_X(X, reset=False)
        if not isinstance(self.party, Party):
            raise ConfigError("party must be set (set_params(party=...)) to predict jointly")
        party = TimedParty(self.party, self.timeout)
        partial = X @ self.coef_
        if self.role_ == "host":
            party.send(party.peers("guest")[0], tag("predict"), partial)
            return None
        for host in party.peers("host"):
            scores = party.recv(host, tag("predict"))
            if not isinstance(scores, np.ndarray) or scores.shape != partial.shape:
                raise FederationError(
                    f"host {host} sent partial scores for {getattr(scores, 'shape', '?')} rows, the guest has {partial.shape}"
                )
            partial = partial + scores
        return partial + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray | None:
        """Guest: (n, 2) probabilities of classes 0 and 1; hosts: None."""
        u = self.decision_function(X)
        if u is None:
            return None
        p1 = 1.0 / (1.0 + np.exp(-u))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: Any) -> np.ndarray | None:
        proba = self.predict_proba(X)
        return None if proba is None else (proba[:, 1] > 0.5).astype(np.int64)

    # -- model state --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """This party's model state only (own weights, feature names, fixed-point encoding); JSON-ready."""
        check_fitted(self, "coef_")
        names = getattr(self, "feature_names_in_", None)
        return {
            "format": MODEL_FORMAT,
            "role": self.role_,
            "coef": [float(v) for v in self.coef_],
            "intercept": self.intercept_,
            "feature_names": None if names is None else [str(n) for n in names],
            "n_iter": self.n_iter_,
            "loss_history": [float(v) for v in self.loss_history_],
            "fixed_point": {
                "residual_frac_bits": fp.D_FRAC_BITS,
                "class_weight_frac_bits": fp.WEIGHT_FRAC_BITS,
                "feature_frac_bits": list(self.x_frac_bits_),
            },
            "params": {name: getattr(self, name) for name in self._PARAMS if name != "executor"},
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, party: Party | None = None) -> HeteroLogisticRegression:
        """A fitted estimator from ``to_dict`` output; pass ``party`` to predict jointly."""
        if state.get("format") != MODEL_FORMAT:
            raise DataError(f"model state format must be {MODEL_FORMAT!r}, got {state.get('format')!r}")
        try:
            params = dict(state["params"])
            params["class_weight"] = _class_weight_from_json(params.get("class_weight"))
            model = cls(party=party, **params)
            model.role_ = str(state["role"])
            model.coef_ = np.asarray(state["coef"], dtype=np.float64)
            model.intercept_ = None if state["intercept"] is None else float(state["intercept"])
            model.n_iter_ = int(state["n_iter"])
            model.loss_history_ = [float(v) for v in state["loss_history"]]
            model.x_frac_bits_ = [int(v) for v in state["fixed_point"]["feature_frac_bits"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"model state is incomplete or malformed: {exc!r}") from exc
        model.n_features_in_ = len(model.coef_)
        if state.get("feature_names") is not None:
            model.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
        if (model.role_ == "guest") != (model.intercept_ is not None):
            raise DataError(f"model state of role {model.role_!r} has intercept {model.intercept_!r}")
        return model


def _class_weight_from_json(value: Any) -> Any:
    """JSON turns {0: w} keys into "0"; undo that."""
    if isinstance(value, Mapping):
        return {int(k): float(v) for k, v in value.items()}
    return value


def _check_y(y: Any, n_rows: int) -> np.ndarray:
    arr = check_binary_labels(y, n_rows)
    if arr.min() == arr.max():
        raise DataError("y holds a single class; logistic regression needs both 0 and 1")
    return arr
