"""Hetero (vertical) neural network as a scikit-learn style estimator over the Party API.

Every party builds the same estimator around its own Party and calls ``fit`` with its own columns (labels
only at the guest): each party trains a bottom model on its columns; the guest sums the parties'
contributions in the interactive layer and trains the top model on its labels. See docs/protocols/hetero_nn.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.protocol import new_keypair, new_seed
from airflow_provider_powerfl.algorithms.hetero_nn import interactive as ia
from airflow_provider_powerfl.algorithms.hetero_nn.defences import NOISE_CLIP, noise_multiplier
from airflow_provider_powerfl.algorithms.hetero_nn.guest import GuestSession, Interactive
from airflow_provider_powerfl.algorithms.hetero_nn.host import HostSession, secret_factor
from airflow_provider_powerfl.algorithms.hetero_nn.layers import Embedding, get_state, mlp, set_state
from airflow_provider_powerfl.algorithms.hetero_nn.links import RemoteLink
from airflow_provider_powerfl.algorithms.hetero_nn.losses import output_units, transform
from airflow_provider_powerfl.algorithms.hetero_nn.optim import Optimizer
from airflow_provider_powerfl.algorithms.hetero_nn.packing import VALUE_BOUND_BITS
from airflow_provider_powerfl.algorithms.hetero_nn.params import HeteroNNParams
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import PROTOCOL_VERSION, Plan, init_rng, recv_dict, tag
from airflow_provider_powerfl.algorithms.param_checks import check_binary_labels, check_fitted, check_params
from airflow_provider_powerfl.algorithms.progress import ProgressCallback
from airflow_provider_powerfl.algorithms.timed_party import TimedParty
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

MODEL_FORMAT = "powerfl.hetero_nn/1"


class HeteroNN:
    """Bottom models at every party, an interactive layer at the guest, a top model with the labels at the guest.

    Parameters (``HeteroNNParams`` checks them; the guest's rule for the plan): ``task`` binary|multiclass|regression;
    ``mode`` "encrypted" (default: each host's interactive weights are W = V U with V the guest's secret and U the
    host's, applied under Paillier, so the guest sees only t = a W and the host only the gradient delta W^T) or
    "plaintext" (hosts send their bottom outputs in the clear and the guest holds their interactive weights: leaky,
    see the protocol page); ``interactive_units`` (every bottom model's output and the interactive layer's width);
    ``bottom_hidden``/``top_hidden`` layer sizes, ``activation`` between layers, ``bottom_activation`` on bottom
    outputs (bounded by default: tanh), ``interactive_activation``, ``dropout``, ``batch_norm`` (before each hidden
    activation, bottom and top models); ``categorical`` (this party's columns by name, given as ``feature_names``
    to ``fit``: integer codes, each embedded in ``embedding_dim`` learned values); ``optimizer`` adam|sgd,
    ``learning_rate``, ``alpha`` (L2 on weight matrices), ``batch_size``, ``max_iter`` (epochs),
    ``early_stopping_rounds`` (epochs without a better validation loss, or training loss without ``eval_set``;
    the best epoch's parameters are kept at every party), ``min_batch_size`` (each party's floor);
    the guest's defence of its labels: ``max_norm`` (each row's gradient clipped to this L2 norm before a host
    gets anything of it; None: no clipping), ``equalize_norms`` (a random vector orthogonal to each clipped row that brings
    its norm to exactly max_norm, against the norm attack) and ``epsilon``/``delta`` (Gaussian noise for (epsilon, delta)-DP of
    labels towards hosts over ``max_iter`` epochs; None: no noise); ``key_length``; ``random_state`` (batch order
    and the plaintext layers' initialisation; secret factors, keys and noise always use the OS CSPRNG);
    ``executor`` (None, an Executor or a map callable for the Paillier chunks), ``timeout`` (seconds per peer
    message), ``progress`` (a callback told each batch and epoch).
    """

    def __init__(self, *, party: Party | None = None, executor: Any = None, timeout: float | None = 600.0,
                 progress: ProgressCallback | None = None, **params: Any) -> None:  # fmt: skip
        self.party, self.executor, self.timeout, self.progress = party, executor, timeout, progress
        defaults = HeteroNNParams.model_construct().model_dump()
        unknown = set(params) - set(defaults)
        if unknown:
            raise ConfigError(f"HeteroNN has no parameter {sorted(unknown)[0]!r}")
        for name, value in {**defaults, **params}.items():
            setattr(self, name, value)

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HeteroNNParams.model_fields}

    def set_params(self, **params: Any) -> HeteroNN:
        for name, value in params.items():
            if name not in HeteroNNParams.model_fields and name not in ("party", "executor", "timeout", "progress"):
                raise ConfigError(f"HeteroNN has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def _checked(self) -> HeteroNNParams:
        if not isinstance(self.party, Party) or self.party.role not in ("guest", "host"):
            raise ConfigError(f"party must be a Party with role 'guest' or 'host', got {self.party!r}")
        params = check_params(HeteroNNParams, self)
        self.sigma_ = 0.0 if params.epsilon is None else noise_multiplier(params.epsilon, params.delta, params.max_iter)
        if params.max_norm is not None and params.max_norm * (1 + NOISE_CLIP * self.sigma_) >= 2.0**VALUE_BOUND_BITS:
            raise ConfigError(f"max_norm={params.max_norm} with epsilon={params.epsilon} over {params.max_iter} epochs "
                              f"(noise sigma {self.sigma_:.2f}) exceeds the encoded bound 2^{VALUE_BOUND_BITS}: lower max_norm or raise epsilon")  # fmt: skip
        return params

    def _layers(self, n_in: int, rng: np.random.Generator) -> Any:
        spec, inputs = getattr(self, "embedding_", None), None
        if spec:
            inputs = Embedding(n_in, spec["columns"], spec["cardinalities"], self.embedding_dim, rng)
            n_in = inputs.n_out
        return mlp(n_in, self.bottom_hidden, self.interactive_units, self.activation, self.bottom_activation, self.dropout,
                   rng, self.batch_norm, inputs)  # fmt: skip

    def _embedding(self, X: np.ndarray, feature_names: Any, party_id: str) -> dict[str, list[int]] | None:
        """The categorical columns' indices and cardinalities (largest training code + 1), their codes checked."""
        if not self.categorical:
            return None
        names = [str(n) for n in feature_names] if feature_names is not None else []
        missing = [c for c in self.categorical if c not in names]
        if missing:
            raise ConfigError(f"categorical: party {party_id} has no column {missing[0]!r} (its columns: {names[:8]})")
        columns = [names.index(c) for c in self.categorical]
        for name, c in zip(self.categorical, columns, strict=True):
            codes = X[:, c]
            if np.any(codes < 0) or np.any(codes != np.rint(codes)):
                raise DataError(f"categorical column {name!r} at party {party_id} must hold integer codes >= 0")
        return {"columns": columns, "cardinalities": [int(X[:, c].max()) + 1 for c in columns]}

    # -- training ------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, eval_set: Any = None, feature_names: Any = None) -> HeteroNN:
        """Train jointly; y only at the guest. ``eval_set``: (X_valid, y_valid) at the guest, X_valid at hosts;
        ``feature_names``: X's column names (what ``categorical`` names)."""
        self._checked()
        party = TimedParty(self.party, self.timeout)
        X = _check_X(X)
        self.embedding_ = self._embedding(X, feature_names, party.party_id)
        rng, runner = init_rng(self.random_state, party.party_id), ia.Runner(self.executor)
        self.role_, self.n_features_in_ = party.role, X.shape[1]
        if party.role == "host":
            if y is not None:
                raise ConfigError(f"y must be None at host {party.party_id}: labels live at the guest")
            X_valid = None if eval_set is None else _check_X(eval_set, X.shape[1])
            self.bottom_ = self._layers(X.shape[1], rng)
            session = HostSession(party, self.bottom_, self._optimizer(), self.key_length, runner, self.min_batch_size)
            session.progress = self.progress
            self.loss_history_ = session.fit(X, X_valid, self.interactive_units)
            self.factor_ = session.factor
            return self
        y = self._labels(y, len(X))
        X_valid, y_valid = (
            (None, None) if eval_set is None else (_check_X(eval_set[0], X.shape[1]), self._labels(eval_set[1], len(eval_set[0])))
        )
        if len(X) < self.min_batch_size:
            raise DataError(f"{len(X)} rows are fewer than min_batch_size={self.min_batch_size}")
        seed = self.random_state if self.random_state is not None else new_seed()
        plan = Plan(len(X), 0 if X_valid is None else len(X_valid), min(self.batch_size, len(X)), self.max_iter, int(seed),
                    self.mode, self.interactive_units)  # fmt: skip
        links = self._links(party, plan, runner, rng, None, training=True)
        self._build_guest(X.shape[1], rng)
        session = self._session(links, plan, self.sigma_)
        session.progress = self.progress
        history = session.fit(X, y, X_valid, y_valid)
        self.loss_history_, self.valid_loss_history_ = history["loss"], history["valid_loss"]
        self.link_state_ = {link.host: (link.factor if link.weights is None else link.weights) for link in links}
        return self

    def _optimizer(self) -> Optimizer:
        return Optimizer(self.optimizer, float(self.learning_rate), float(self.alpha))

    def _build_guest(self, n_in: int, rng: np.random.Generator) -> None:
        units = self.interactive_units
        self.bottom_ = self._layers(n_in, rng)
        self.interactive_ = Interactive(units, units, self.interactive_activation, rng)
        self.top_ = mlp(units, self.top_hidden, output_units(self.task, self.n_classes_), self.activation, "identity",
                        self.dropout, rng, self.batch_norm)  # fmt: skip

    def _session(self, links: list, plan: Plan, sigma: float = 0.0) -> GuestSession:
        return GuestSession(self.bottom_, self.interactive_, self.top_, self._optimizer(), self.task, links, plan,
                            self.max_norm, sigma, self.early_stopping_rounds,
                            equalize=bool(self.equalize_norms and self.max_norm is not None))  # fmt: skip

    def _labels(self, y: Any, n_rows: int) -> np.ndarray:
        if self.task == "binary":
            self.n_classes_ = 2
            return check_binary_labels(y, n_rows)
        arr = np.asarray(y, dtype=np.float64).ravel() if y is not None else None
        if arr is None or arr.shape != (n_rows,) or not np.all(np.isfinite(arr)):
            raise DataError(f"y must hold {n_rows} finite labels at the guest")
        if self.task == "multiclass" and (np.any(arr != np.rint(arr)) or arr.min() < 0):
            raise DataError("multiclass labels must be the class indices 0..K-1")
        if not hasattr(self, "n_classes_"):
            self.n_classes_ = int(arr.max()) + 1 if self.task == "multiclass" else 1
        return arr

    def _links(self, party: Party, plan: Plan, runner: ia.Runner, rng: np.random.Generator | None,
               state: Mapping[str, np.ndarray] | None, training: bool) -> list[RemoteLink]:  # fmt: skip
        """Offer the plan to every host, check their answers; in encrypted mode exchange the packed factors."""
        hosts = party.peers("host")
        if not hosts:
            raise ConfigError(f"job {party.job_id!r} has no host party for hetero NN")
        public, private = new_keypair(self.key_length) if plan.mode == "encrypted" else (None, None)
        offer = {
            "version": PROTOCOL_VERSION,
            "plan": plan.to_dict(),
            "public_key": None if public is None else format(public.n, "x"),
        }
        for host in hosts:
            party.send(host, tag("setup"), offer)
        hellos = {host: recv_dict(party, host, "hello") for host in hosts}
        for host, hello in hellos.items():
            if hello.get("refused"):
                raise FederationError(f"host {host} refused the training plan: {hello['refused']}")
        links = []
        for host in hosts:
            units = plan.units
            if plan.mode == "encrypted":
                factor = state[host] if state is not None else secret_factor(units)
                link = RemoteLink(party, host, plan, runner, private, factor, None)
                link.exchange(hellos[host].get("public_key"), self.key_length, training)
            else:
                limit = np.sqrt(3.0 / units)
                weights = state[host] if state is not None else rng.uniform(-limit, limit, size=(units, units))
                link = RemoteLink(party, host, plan, runner, None, None, np.array(weights, dtype=np.float64))
            links.append(link)
        return links

    # -- prediction ----------------------------------------------------------------------------------
    def predict_output(self, X: Any) -> np.ndarray | None:
        """Guest: P(y=1) (binary), (n, K) class probabilities or predicted values; hosts send their part, get None."""
        check_fitted(self, "bottom_")
        if not isinstance(self.party, Party):
            raise ConfigError("party must be set (set_params(party=...)) to predict jointly")
        party, X = TimedParty(self.party, self.timeout), _check_X(X, self.n_features_in_)
        runner = ia.Runner(self.executor)
        if self.role_ == "host":
            HostSession(party, self.bottom_, None, self.key_length, runner, factor=self.factor_).predict(
                X, self.interactive_units
            )
            return None
        plan = Plan(len(X), 0, self.batch_size, 1, 0, self.mode, self.interactive_units)
        links = self._links(party, plan, runner, None, self.link_state_, training=False)
        session = self._session(links, plan)
        return transform(self.task, session.evaluate(X, "predict"))

    def predict_proba(self, X: Any) -> np.ndarray | None:
        """Guest: (n, 2) (binary) or (n, K) probabilities; hosts: None."""
        out = self.predict_output(X)
        if out is None or self.task == "regression":
            return out
        return np.column_stack([1.0 - out, out]) if self.task == "binary" else out

    def predict(self, X: Any) -> np.ndarray | None:
        out = self.predict_output(X)
        if out is None or self.task == "regression":
            return out
        return (out > 0.5).astype(np.int64) if self.task == "binary" else out.argmax(axis=1)

    # -- model state ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """This party's part only (its layers and its secret halves of the interactive weights); JSON-ready."""
        check_fitted(self, "bottom_")
        state: dict[str, Any] = {
            "format": MODEL_FORMAT, "role": self.role_, "n_features": self.n_features_in_, "params": self.get_params(),
            "bottom": get_state(self.bottom_), "loss_history": [float(v) for v in self.loss_history_],
            "embedding": self.embedding_,
        }  # fmt: skip
        if self.role_ == "host":
            state["factor"] = None if self.factor_ is None else np.asarray(self.factor_).tolist()
            return state
        state.update(n_classes=self.n_classes_, interactive=get_state(self.interactive_), top=get_state(self.top_),
                     links={host: np.asarray(v).tolist() for host, v in self.link_state_.items()},
                     valid_loss_history=[float(v) for v in self.valid_loss_history_])  # fmt: skip
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, party: Party | None = None) -> HeteroNN:
        """A fitted estimator from ``to_dict`` output; pass ``party`` to predict jointly."""
        if state.get("format") != MODEL_FORMAT:
            raise DataError(f"model state format must be {MODEL_FORMAT!r}, got {state.get('format')!r}")
        try:
            model = cls(party=party, **state["params"])
            model.role_, model.n_features_in_ = str(state["role"]), int(state["n_features"])
            model.loss_history_ = [float(v) for v in state["loss_history"]]
            model.embedding_ = state.get("embedding")
            rng = np.random.default_rng(0)  # shapes only: every value is loaded below
            if model.role_ == "host":
                model.bottom_ = model._layers(model.n_features_in_, rng)
                set_state(model.bottom_, state["bottom"])
                model.factor_ = None if state["factor"] is None else np.asarray(state["factor"], dtype=np.int64)
                return model
            model.n_classes_ = int(state["n_classes"])
            model._build_guest(model.n_features_in_, rng)
            set_state(model.bottom_, state["bottom"])
            set_state(model.interactive_, state["interactive"])
            set_state(model.top_, state["top"])
            dtype = np.int64 if model.mode == "encrypted" else np.float64
            model.link_state_ = {host: np.asarray(v, dtype=dtype) for host, v in state["links"].items()}
            model.valid_loss_history_ = [float(v) for v in state["valid_loss_history"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"model state is incomplete or malformed: {exc!r}") from exc
        return model


def _check_X(X: Any, n_features: int | None = None) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"X must be a non-empty 2-D array (rows x features), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError("X contains NaN or infinite values")
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(f"X has {arr.shape[1]} features, the model was fitted with {n_features}")
    return arr
