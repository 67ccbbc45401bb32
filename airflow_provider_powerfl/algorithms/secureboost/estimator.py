"""The federated SecureBoost estimator over the Party API: the guest's and the hosts' halves of fit and predict.

Like the plaintext reference (plaintext.py) it runs boosting.boost and tree.grow_tree, its
histogram sources being the guest's own columns plus one RemoteHost per host; with the same bins,
parameters and random_state both grow the same trees. The parameters, the fitted trees and the
input checks they share are in base.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.paillier_kernels import Kernels, as_chunk_map
from airflow_provider_powerfl.algorithms.param_checks import check_fitted, check_params, check_real, is_int
from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report
from airflow_provider_powerfl.algorithms.secureboost import encoding
from airflow_provider_powerfl.algorithms.secureboost.base import BoostedTreesEstimator, check_eval, check_X, check_y
from airflow_provider_powerfl.algorithms.secureboost.binning import QuantileBinner
from airflow_provider_powerfl.algorithms.secureboost.boosting import BoostParams, boost
from airflow_provider_powerfl.algorithms.secureboost.hidden_guest import HiddenRemoteHost, prefetch_cuts
from airflow_provider_powerfl.algorithms.secureboost.local import LocalSource
from airflow_provider_powerfl.algorithms.secureboost.objectives import Objective
from airflow_provider_powerfl.algorithms.secureboost.params import SecureBoostParams
from airflow_provider_powerfl.algorithms.secureboost.protocol import (
    CMD,
    PROTOCOL_VERSION,
    REPLY,
    HostServer,
    RemoteHost,
    TreeCipher,
)
from airflow_provider_powerfl.algorithms.secureboost.tree import route
from airflow_provider_powerfl.algorithms.timed_party import TimedParty
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey, insecure_test_keys
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey, generate_keypair
from airflow_provider_powerfl.exceptions import ConfigError, CryptoError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

MODEL_FORMAT = "powerfl.secureboost/1"
SMALL_COMB = (10, 4)  # fixed-base comb of 4096 entries: ~135 products per obfuscator instead of 79, built in milliseconds
BIG_COMB_ENCRYPTIONS = 20000


class HeteroSecureBoost(BoostedTreesEstimator):
    """SecureBoost over columns split between a guest (labels) and hosts; see docs/protocols/secureboost.md.

    Every party builds it around its own Party and calls ``fit`` with its own columns (y and
    the labels of eval_set only at the guest; a host passes eval_set=X_eval or None, as the guest
    does). The boosting parameters that matter are the guest's; each party bins its own columns
    with its own ``max_bin``. Extra parameters:

    :param party: this party's view of the job (role "guest" or "host").
    :param key_length: bits of the guest's Paillier key; a host refuses keys shorter than its own value.
    :param executor: None, a concurrent.futures.Executor or a ``map(fn, items)`` callable running the
        chunked crypto (guest: encryption and decryption; host: histogram products), e.g. over Spark partitions.
    :param timeout: seconds to wait for any one message of a peer (None: forever).
    :param guest_only_trees: the first rounds grow on the guest's columns only (FATE's ``complete_secure``):
        hosts see no row partition of the trees fitted to the rawest label signal (measured, later trees'
        partitions leak about as much, and with ``hide_instance_space`` it does not lower what the host's own
        splits tell it: docs/security.md). The guest's value rules.
    :param hist_noise: a host's own protection of its feature distributions: Gaussian noise of this many
        rows' worth (standard deviation, in units of the largest quantized |g| or h one row can have) added
        to every encrypted left sum it sends. Each host's own value rules; 0 adds none.
    :param hide_instance_space: hosts never learn which rows are in which node (nor which are sampled): per node
        the guest sends every row's ciphertext, [[0]] outside the node, and a host split comes back as the cut of
        every row (the guest learns it). On by default: the partitions give hosts the labels. ~2^(max_depth-1) times
        the encryptions (4x at depth 3, 32x at depth 6); False shows hosts the partitions. The guest's value rules.
    :param progress: None, or a callable told a ``algorithms.progress.TrainingProgress`` (unit "tree") at the
        start and after each tree: the guest counts rounds and knows the loss, a host counts the trees it
        helped grow (of its own ``n_estimators``) and has no loss. Not part of the model's state.
    """

    _PARAMS = ("party", *SecureBoostParams.model_fields, "executor", "timeout", "progress")

    def __init__(
        self, *, party: Party | None = None, n_estimators: int = 100, max_depth: int = 6, learning_rate: float = 0.3,
        max_bin: int = 256, min_child_weight: float = 1.0, reg_lambda: float = 1.0, gamma: float = 0.0,
        subsample: float = 1.0, goss: bool = False, top_rate: float = 0.2, other_rate: float = 0.1,
        early_stopping_rounds: int | None = None, objective: str = "binary:logistic",
        random_state: int | None = None, key_length: int = 2048, executor: Any = None, timeout: float | None = 600.0,
        guest_only_trees: int = 0, hist_noise: float = 0.0, hide_instance_space: bool = True,
        progress: ProgressCallback | None = None,
    ) -> None:  # fmt: skip
        self._store(locals())

    def _boost_params(self) -> BoostParams:
        return dataclasses.replace(super()._boost_params(), guest_only_trees=int(self.guest_only_trees))

    def check_params(self) -> None:
        """Raise a ConfigError naming the first bad parameter (fit does this too; a job calls it before talking to peers)."""
        check_params(SecureBoostParams, self)
        if self.timeout is not None:
            check_real("timeout", self.timeout, low=0.0, open_low=True)
        as_chunk_map(self.executor)  # names a bad executor

    def _validate(self) -> None:
        if not isinstance(self.party, Party) or self.party.role not in ("guest", "host"):
            raise ConfigError(f"party must be a Party with role 'guest' or 'host', got {self.party!r}")
        self.check_params()
        if self.party.role == "host" and not self.party.peers("guest"):
            raise ConfigError(f"host {self.party.party_id} has no guest among the parties of job {self.party.job_id}")

    # -- training -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, eval_set: Any = None) -> HeteroSecureBoost:
        """Train jointly; y only at the guest. eval_set: (X_eval, y_eval) at the guest, X_eval at a host."""
        self._validate()
        party = TimedParty(self.party, self.timeout)
        X = check_X(X, "X")
        self.n_features_in_ = X.shape[1]
        binner = QuantileBinner.fit(X, int(self.max_bin))
        bins = binner.transform(X)
        self.role_ = party.role
        if party.role == "guest":
            self._fit_guest(party, X, bins, binner, y, eval_set)
        else:
            if y is not None:
                raise ConfigError(f"y must be None at host {party.party_id}: labels live at the guest")
            self._fit_host(party, X, bins, binner, eval_set)
        return self

    def _fit_guest(self, party: Any, X: np.ndarray, bins: np.ndarray, binner: QuantileBinner, y: Any, eval_set: Any) -> None:
        y = check_y(y, len(X))
        objective = Objective.for_labels(self.objective, y)
        X_eval = y_eval = None
        if eval_set is not None:
            X_eval, y_eval = check_eval(eval_set, X.shape[1])
        elif self.early_stopping_rounds is not None:
            raise ConfigError("early_stopping_rounds needs an eval_set in fit")
        # hidden: every row once per built node, 2^(max_depth - 1) of them per tree at most
        per_row = min(1 << (int(self.max_depth) - 1), 4) if self.hide_instance_space else 1
        public, private = _keypair(int(self.key_length), len(X) * int(self.n_estimators) * objective.n_outputs * per_row)
        per_ct = encoding.per_ciphertext(public.max_int.bit_length() - 1)
        hosts = party.peers("host")
        setup = {"op": "setup", "version": PROTOCOL_VERSION, "n_rows": len(X), "public_key": format(public.n, "x"),
                 "per_ciphertext": per_ct, "n_eval_rows": -1 if X_eval is None else len(X_eval)}  # fmt: skip
        for host in hosts:
            party.send(host, CMD, setup)
        # the next round's obfuscators are made while the guest waits for the hosts
        with ObfuscatorPool(private, len(X) * objective.n_outputs * per_row) as pool:
            cipher = TreeCipher(private, Kernels(self.executor), pool)
            remotes = {}
            for host in hosts:
                reply = party.recv(host, REPLY)
                if not isinstance(reply, dict) or reply.get("op") != "setup" or not is_int(reply.get("n_candidates")):
                    raise FederationError(f"host {host} did not accept the SecureBoost setup: {reply!r}"[:300])
                remotes[host] = (HiddenRemoteHost if self.hide_instance_space else RemoteHost)(
                    party, host, cipher, int(reply["n_candidates"]), per_ct, reply.get("hist_noise") is True
                )
            sources = [LocalSource(bins, binner.n_bins, binner.edges), *remotes.values()]
            evaluation = None
            if X_eval is not None:
                for remote in remotes.values():
                    remote.data = "eval"
                evaluation = (lambda trees: _route(trees, X_eval, remotes), y_eval)
            result = boost(sources, y, objective, self._boost_params(), evaluation, self.progress)
        self._keep(objective, result)
        for host, remote in remotes.items():
            remote.command("finish", keep=np.asarray(sorted(self.host_split_gain_.get(host, {})), dtype=np.int64))

    def _fit_host(self, party: Any, X: np.ndarray, bins: np.ndarray, binner: QuantileBinner, eval_set: Any) -> None:
        guest = party.peers("guest")[0]
        setup = party.recv(guest, CMD)
        if not isinstance(setup, dict) or setup.get("op") != "setup" or setup.get("version") != PROTOCOL_VERSION:
            raise FederationError(
                f"guest {guest} sent no SecureBoost setup of protocol version {PROTOCOL_VERSION}: {setup!r}"[:300]
            )
        if setup.get("n_rows") != len(X):
            raise DataError(
                f"guest {guest} trains on {setup.get('n_rows')} rows, host {party.party_id} holds {len(X)}: align the inputs first"
            )
        public = _peer_key(setup.get("public_key"), guest, int(self.key_length))
        per_ct = setup.get("per_ciphertext")
        if not is_int(per_ct) or not 1 <= per_ct <= encoding.per_ciphertext(public.max_int.bit_length() - 1):
            raise FederationError(f"guest {guest} asked for {per_ct!r} sums per ciphertext, more than its key holds")
        server = HostServer(party, guest, self.executor, self.progress, int(self.n_estimators))
        server.setup_training(bins, binner.n_bins, binner.edges, public, int(per_ct), float(self.hist_noise))
        n_eval = setup.get("n_eval_rows")
        if n_eval != -1:
            if eval_set is None:
                raise ConfigError(f"the guest validates on {n_eval} rows: pass eval_set=X_eval at host {party.party_id}")
            X_eval = check_X(eval_set[0] if isinstance(eval_set, tuple) else eval_set, "eval_set", X.shape[1])
            if len(X_eval) != n_eval:
                raise DataError(f"guest {guest} validates on {n_eval} rows, host {party.party_id} holds {len(X_eval)}")
            server.data["eval"] = X_eval
        party.send(guest, REPLY, {"op": "setup", "n_candidates": len(server.layout), "hist_noise": self.hist_noise > 0})
        report(self.progress, TrainingProgress("tree", 0, int(self.n_estimators)))
        done = server.serve(stop="finish")
        keep = done.get("keep")
        if not isinstance(keep, np.ndarray):
            raise FederationError(f"guest {guest} ended training without the list of kept splits")
        self.splits_ = {int(i): server.splits[int(i)] for i in keep.tolist() if int(i) in server.splits}
        split = np.zeros(self.n_features_in_, dtype=np.int64)
        for f, _ in self.splits_.values():
            split[f] += 1
        self.feature_importance_ = {"split": split}

    # -- prediction ---------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray | None:
        """Guest: raw scores (n, outputs), asking the hosts per depth; hosts answer and return None."""
        check_fitted(self, "feature_importance_")
        X = check_X(X, "X", self.n_features_in_)
        if not isinstance(self.party, Party):
            raise ConfigError("party must be set (set_params(party=...)) to predict jointly")
        party = TimedParty(self.party, self.timeout)
        if self.role_ == "host":
            guest = party.peers("guest")[0]
            server = HostServer(party, guest, None)
            server.splits, server.data["predict"] = self.splits_, X
            start = party.recv(guest, CMD)
            if not isinstance(start, dict) or start.get("op") != "predict":
                raise FederationError(f"guest {guest} sent {start!r} to start prediction"[:200])
            if start.get("n_rows") != len(X):
                raise DataError(f"guest {guest} predicts {start.get('n_rows')} rows, host {party.party_id} holds {len(X)}")
            server.serve(stop="end")
            return None
        kind = HiddenRemoteHost if self.hide_instance_space else RemoteHost
        hosts = {h: kind(party, h, None, 0, 1) for h in party.peers("host")}  # type: ignore[arg-type]
        for remote in hosts.values():
            remote.command("predict", n_rows=len(X))
        prefetch_cuts([t for trees in self.trees_ for t in trees], hosts, len(X))  # hidden hosts: cuts of every row
        raw = self._raw(X, hosts)
        for remote in hosts.values():
            remote.command("end")
        return raw

    def predict(self, X: Any) -> np.ndarray | None:
        raw = self.decision_function(X)
        return None if raw is None else self._predict_from_raw(raw)

    def predict_proba(self, X: Any) -> np.ndarray | None:
        raw = self.decision_function(X)
        return None if raw is None else self._proba_from_raw(raw)

    # -- model state --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """This party's state only: the guest's trees (host nodes hold a party id and split id), a host's split table."""
        check_fitted(self, "feature_importance_")
        params = {name: getattr(self, name) for name in self._PARAMS if name not in ("party", "executor", "progress")}
        state: dict[str, Any] = {"format": MODEL_FORMAT, "role": self.role_, "n_features": self.n_features_in_, "params": params}
        if self.role_ == "guest":
            state["model"] = self._model_dict()
            state["host_split_gain"] = {h: {str(i): g for i, g in d.items()} for h, d in self.host_split_gain_.items()}
        else:
            state["splits"] = {str(i): [f, t] for i, (f, t) in self.splits_.items()}
            state["feature_importance"] = {"split": self.feature_importance_["split"].tolist()}
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, party: Party | None = None) -> HeteroSecureBoost:
        if state.get("format") != MODEL_FORMAT:
            raise DataError(f"model state format must be {MODEL_FORMAT!r}, got {state.get('format')!r}")
        try:
            model = cls(party=party, **state["params"])
            model.role_ = str(state["role"])
            if model.role_ == "guest":
                model._load_model(state["model"])
                model.host_split_gain_ = {
                    h: {int(i): float(g) for i, g in d.items()} for h, d in state["host_split_gain"].items()
                }
            else:
                model.splits_ = {int(i): (int(v[0]), float(v[1])) for i, v in state["splits"].items()}
                model.feature_importance_ = {"split": np.asarray(state["feature_importance"]["split"], dtype=np.int64)}
            model.n_features_in_ = int(state["n_features"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"model state is incomplete or malformed: {exc!r}") from exc
        return model


def _route(trees: list[Any], X: np.ndarray, remotes: Mapping[str, RemoteHost]) -> np.ndarray:
    """Leaves of ``X``'s rows in ``trees``; hidden hosts' cuts of every row fetched first."""
    prefetch_cuts(trees, remotes, len(X))
    return route(trees, len(X), lambda f, t, r: X[r, f] <= t, remotes)


def _keypair(key_length: int, encryptions: int) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """The guest's key, with fixed-base tables sized to the work: the default comb (~124 MB, seconds to
    build at 2048 bits) pays off only over tens of thousands of encryptions."""
    public, private = generate_keypair(key_length, allow_insecure_key_length=insecure_test_keys())
    if encryptions >= BIG_COMB_ENCRYPTIONS:
        return public, private
    small = PaillierPublicKey(public.n, allow_insecure_key_length=public.allow_insecure_key_length, comb=SMALL_COMB)
    return small, PaillierPrivateKey(small, private.p, private.q)


def _peer_key(hex_n: object, party: str, key_length: int) -> PaillierPublicKey:
    """The guest's public key at a host, which only rerandomizes a few sums per level: a small comb."""
    if not isinstance(hex_n, str):
        raise CryptoError(f"party {party} sent no Paillier public key")
    key = PaillierPublicKey(int(hex_n, 16), allow_insecure_key_length=True, comb=SMALL_COMB)
    if key.n_bits < key_length:
        raise CryptoError(f"party {party} uses a {key.n_bits}-bit Paillier key, shorter than key_length={key_length}")
    return key
