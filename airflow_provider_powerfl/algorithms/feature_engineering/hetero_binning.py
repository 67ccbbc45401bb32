"""Federated binning with WOE and IV: every party bins its own features; host WOE/IV from encrypted labels.

Every party builds the estimator around its own Party and calls ``fit`` with its own columns
(labels at the guest only). Guest features: WOE/IV computed locally. Host features: the guest
sends its labels encrypted under its own Paillier key (one ciphertext per row), each host sums
them per bin and returns the sums, the guest decrypts per-bin counts, computes WOE/IV and sends
each host the WOE of its bins and the IV of its features. See docs/protocols/woe_iv.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.feature_engineering import woe_protocol as wp
from airflow_provider_powerfl.algorithms.feature_engineering._checks import as_matrix, check_format
from airflow_provider_powerfl.algorithms.feature_engineering.binning import METHODS, Binner
from airflow_provider_powerfl.algorithms.feature_engineering.woe import (
    DEFAULT_ADJUSTMENT_FACTOR,
    bin_label_counts,
    woe_iv,
)
from airflow_provider_powerfl.algorithms.paillier_kernels import Kernels, as_chunk_map, check_ciphertexts, rerandomize
from airflow_provider_powerfl.algorithms.param_checks import (
    check_binary_labels,
    check_choice,
    check_fitted,
    check_int,
    check_key_length,
    check_real,
)
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey, insecure_test_keys
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.crypto.shuffle import secure_permutation
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

FORMAT = "powerfl.hetero_binning/1"
# the host only rerandomizes a few hundred sums with the guest's key: a small comb builds in milliseconds
_RERANDOMIZE_COMB = (8, 2)


def tag(name: str) -> str:
    return f"fe/woe/{name}"


class HeteroFeatureBinning:
    """Binning of each party's own features, WOE/IV against the guest's binary labels.

    :param party: this party's view of the job (role "guest" or "host").
    :param method: "quantile" or "bucket" (each party bins its own features with its own value).
    :param n_bins: value bins at most per feature; missing values get a bin of their own.
    :param adjustment_factor: added to both counts of a bin with no events or no non-events
        (FATE's default 0.5); the guest's value rules.
    :param shuffle_bins: host only: send the bin sums of each feature in a fresh random order, so
        the guest learns the per-bin counts but not which value range each belongs to.
    :param return_woe: guest only: send each host the WOE of its bins (so it can WOE-transform its
        features; it then learns its bins' label counts, see the protocol page) or only the IVs.
    :param key_length: guest: bits of its Paillier key; host: the least it accepts from the guest.
    :param executor: None, a concurrent.futures.Executor or a ``map(fn, items)`` callable running
        the encryption (guest) and per-bin sums (host) in chunks, e.g. over Spark partitions.
    :param timeout: seconds to wait for any one message of a peer (None: forever).
    """

    def __init__(
        self,
        *,
        party: Party | None = None,
        method: str = "quantile",
        n_bins: int = 10,
        adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR,
        shuffle_bins: bool = True,
        return_woe: bool = True,
        key_length: int = 2048,
        executor: Any = None,
        timeout: float | None = 600.0,
    ) -> None:
        self.party = party
        self.method = method
        self.n_bins = n_bins
        self.adjustment_factor = adjustment_factor
        self.shuffle_bins = shuffle_bins
        self.return_woe = return_woe
        self.key_length = key_length
        self.executor = executor
        self.timeout = timeout

    _PARAMS = ("method", "n_bins", "adjustment_factor", "shuffle_bins", "return_woe", "key_length", "timeout")

    def _validate(self) -> None:
        if not isinstance(self.party, Party) or self.party.role not in ("guest", "host"):
            raise ConfigError(f"party must be a Party with role 'guest' or 'host', got {self.party!r}")
        check_choice("method", self.method, METHODS)
        check_int("n_bins", self.n_bins, 2)
        check_real("adjustment_factor", self.adjustment_factor, 0.0, None, open_low=True)
        for name in ("shuffle_bins", "return_woe"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_key_length(self.key_length)
        if self.timeout is not None:
            check_real("timeout", self.timeout, 0.0, None, open_low=True)
        as_chunk_map(self.executor)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> HeteroFeatureBinning:
        """Bin this party's columns and get their WOE/IV; y (0/1 labels) only at the guest."""
        self._validate()
        X = as_matrix(X)
        self.binner_ = Binner(method=self.method, n_bins=self.n_bins).fit(X)
        bins = self.binner_.transform(X)
        self.role_ = self.party.role
        self.timings_: dict[str, float] = {}
        if self.role_ == "guest":
            self._fit_guest(bins, check_binary_labels(y, len(X)))
        else:
            if y is not None:
                raise ConfigError(f"y must be None at host {self.party.party_id}: labels live at the guest")
            self._fit_host(bins)
        return self

    def _recv(self, src: str, name: str) -> object:
        return self.party.recv(src, tag(name), timeout=self.timeout)

    def _fit_guest(self, bins: np.ndarray, y: np.ndarray) -> None:
        n_bins = self.binner_.bin_counts()
        self.woe_, self.iv_, self.event_counts_, self.non_event_counts_ = [], [], [], []
        for j in range(bins.shape[1]):
            e, ne = bin_label_counts(bins[:, j], y, int(n_bins[j]))
            woe, iv = woe_iv(e, ne, self.adjustment_factor)
            self.woe_.append(woe)
            self.iv_.append(iv)
            self.event_counts_.append(e)
            self.non_event_counts_.append(ne)
        self.iv_ = np.asarray(self.iv_)
        self.host_iv_: dict[str, np.ndarray] = {}
        self.host_event_counts_: dict[str, list[np.ndarray]] = {}
        self.host_non_event_counts_: dict[str, list[np.ndarray]] = {}
        hosts = self.party.peers("host")
        if not hosts:
            return
        kernels = Kernels(self.executor)
        start = time.perf_counter()
        public, private = generate_keypair(self.key_length, allow_insecure_key_length=insecure_test_keys())
        ciphertexts = kernels.encrypt(private, wp.pack_labels(y))
        self.timings_["encrypt"] = time.perf_counter() - start
        for host in hosts:
            self.party.send(host, tag("key"), public.to_bytes())
            self.party.send(host, tag("labels"), ciphertexts)
        for host in hosts:
            answer = self._recv(host, "sums")
            sums = _check_sums(answer, public, host)
            start = time.perf_counter()
            flat = kernels.decrypt(private, np.concatenate(sums))
            self.timings_["decrypt"] = self.timings_.get("decrypt", 0.0) + time.perf_counter() - start
            events, non_events = wp.unpack_counts(flat, len(y))
            woes, ivs, es, nes = [], [], [], []
            offset = 0
            for s in sums:
                e, ne = events[offset : offset + len(s)], non_events[offset : offset + len(s)]
                offset += len(s)
                woe, iv = woe_iv(e, ne, self.adjustment_factor)
                woes.append(woe)
                ivs.append(iv)
                es.append(e)
                nes.append(ne)
            self.party.send(host, tag("result"), {"woe": woes if self.return_woe else None, "iv": np.asarray(ivs)})
            self.host_iv_[host] = np.asarray(ivs)
            self.host_event_counts_[host] = es
            self.host_non_event_counts_[host] = nes

    def _fit_host(self, bins: np.ndarray) -> None:
        guest = self.party.peers("guest")[0]
        key_bytes = self._recv(guest, "key")
        if not isinstance(key_bytes, bytes):
            raise FederationError(f"guest {guest} sent a malformed {tag('key')} message in job {self.party.job_id!r}")
        public = PaillierPublicKey.from_bytes(key_bytes, allow_insecure_key_length=True)
        if public.n_bits < self.key_length:
            raise ConfigError(
                f"guest {guest}'s Paillier key has {public.n_bits} bits, below this host's key_length={self.key_length}"
            )
        public = PaillierPublicKey(public.n, allow_insecure_key_length=True, comb=_RERANDOMIZE_COMB)
        labels = check_ciphertexts(public, self._recv(guest, "labels"), len(bins), peer=guest, what=tag("labels"))
        start = time.perf_counter()
        chunk_map, chunk_rows = as_chunk_map(self.executor)
        n_bins = self.binner_.bin_counts()
        sums = wp.bin_sums(public.nsquare, labels, bins, n_bins, chunk_map, chunk_rows)
        self.timings_["bin_sums"] = time.perf_counter() - start
        orders = [_order(int(n), self.shuffle_bins) for n in n_bins]
        sent = [rerandomize(public, s[order]) for s, order in zip(sums, orders, strict=True)]
        self.party.send(guest, tag("sums"), sent)
        result = self._recv(guest, "result")
        woes = result.get("woe", ()) if isinstance(result, dict) else ()
        if not (woes is None or (isinstance(woes, list) and len(woes) == len(n_bins))):
            raise FederationError(f"guest {guest} sent a malformed {tag('result')} message in job {self.party.job_id!r}")
        self.iv_ = np.asarray(result["iv"], dtype=np.float64)
        if self.iv_.shape != (len(n_bins),):
            raise FederationError(f"guest {guest} sent {self.iv_.shape} IV values for {len(n_bins)} features")
        self.woe_ = None if woes is None else []
        if woes is None:
            return
        for j, (woe, order) in enumerate(zip(woes, orders, strict=True)):
            woe = np.asarray(woe, dtype=np.float64)
            if woe.shape != (int(n_bins[j]),):
                raise FederationError(f"guest {guest} sent {woe.shape} WOE values for feature {j}, which has {n_bins[j]} bins")
            own = np.empty_like(woe)
            own[order] = woe
            self.woe_.append(own)

    # -- transforms ---------------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """Bin indices (int64; the missing bin is the last of each feature)."""
        check_fitted(self, "binner_")
        return self.binner_.transform(X)

    def woe_transform(self, X: Any) -> np.ndarray:
        """Each value replaced by the WOE of its bin (0 for bins that were empty at fit)."""
        check_fitted(self, "woe_")
        if self.woe_ is None:
            raise ConfigError("no WOE values to transform with: the guest returned IVs only (return_woe=False)")
        bins = self.binner_.transform(X)
        out = np.empty(bins.shape, dtype=np.float64)
        for j, woe in enumerate(self.woe_):
            out[:, j] = woe[bins[:, j]]
        return out

    # -- state --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """This party's fitted state: its edges, WOE and IV; the guest adds hosts' IVs and per-bin counts."""
        check_fitted(self, "woe_")
        state: dict[str, Any] = {
            "format": FORMAT,
            "role": self.role_,
            "binning": self.binner_.to_dict(),
            "woe": None if self.woe_ is None else [w.tolist() for w in self.woe_],
            "iv": self.iv_.tolist(),
            "params": {name: getattr(self, name) for name in self._PARAMS},
        }
        if self.role_ == "guest":
            state["event_counts"] = [c.tolist() for c in self.event_counts_]
            state["non_event_counts"] = [c.tolist() for c in self.non_event_counts_]
            state["host_iv"] = {h: v.tolist() for h, v in self.host_iv_.items()}
            state["host_event_counts"] = {h: [c.tolist() for c in v] for h, v in self.host_event_counts_.items()}
            state["host_non_event_counts"] = {h: [c.tolist() for c in v] for h, v in self.host_non_event_counts_.items()}
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, party: Party | None = None) -> HeteroFeatureBinning:
        check_format(state, FORMAT)
        try:
            model = cls(party=party, **dict(state["params"]))
            model.role_ = str(state["role"])
            model.binner_ = Binner.from_dict(state["binning"])
            model.woe_ = None if state["woe"] is None else [np.asarray(w, dtype=np.float64) for w in state["woe"]]
            model.iv_ = np.asarray(state["iv"], dtype=np.float64)
            if model.role_ == "guest":
                model.event_counts_ = [np.asarray(c, dtype=np.int64) for c in state["event_counts"]]
                model.non_event_counts_ = [np.asarray(c, dtype=np.int64) for c in state["non_event_counts"]]
                model.host_iv_ = {h: np.asarray(v, dtype=np.float64) for h, v in state["host_iv"].items()}
                model.host_event_counts_ = {
                    h: [np.asarray(c, dtype=np.int64) for c in v] for h, v in state["host_event_counts"].items()
                }
                model.host_non_event_counts_ = {
                    h: [np.asarray(c, dtype=np.int64) for c in v] for h, v in state["host_non_event_counts"].items()
                }
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"binning state is incomplete or malformed: {exc!r}") from exc
        n_bins = model.binner_.bin_counts()
        woes = model.woe_
        if woes is not None and (
            len(woes) != len(n_bins) or any(w.shape != (int(n),) for w, n in zip(woes, n_bins, strict=True))
        ):
            raise DataError("binning state: the WOE values do not match the bins")
        return model


def _order(n_bins: int, shuffle: bool) -> np.ndarray:
    """The order the host sends a feature's bins in: a fresh uniform permutation, or as they are."""
    return secure_permutation(n_bins) if shuffle else np.arange(n_bins)


def _check_sums(answer: object, public: PaillierPublicKey, host: str) -> list[np.ndarray]:
    """A host's bin sums: a non-empty list with one ciphertext vector per feature."""
    if not isinstance(answer, list) or not answer or not all(isinstance(s, np.ndarray) and s.ndim == 1 for s in answer):
        raise FederationError(f"host {host} sent malformed bin sums: expected a list of ciphertext vectors, one per feature")
    return [check_ciphertexts(public, s, len(s), peer=host, what=f"{tag('sums')} of feature {j}") for j, s in enumerate(answer)]
