"""The guest's side of the hidden instance space (``hide_instance_space``; hidden.py has the host's and the messages).

Per level the guest encrypts, for every node to build, every row's packed (g, h), zero for the rows
outside the node or not sampled (fresh encryptions: the host cannot tell which are zero), once for
all hosts; a host split comes back as the cut of every row, which the guest intersects with the
node's rows. Validation and prediction fetch the cuts of every row by the model's host splits
and route at the guest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.secureboost import encoding
from airflow_provider_powerfl.algorithms.secureboost.protocol import RemoteHost, TreeCipher
from airflow_provider_powerfl.algorithms.secureboost.tree import Tree
from airflow_provider_powerfl.exceptions import FederationError


def encrypt_nodes(
    cipher: TreeCipher, g: np.ndarray, h: np.ndarray, sample: np.ndarray, assign: np.ndarray, nodes: np.ndarray
) -> np.ndarray:
    """Every row's ciphertext per node of ``nodes`` (node-major), [[0]] outside it; the second host of a level gets
    the first one's."""
    key = (nodes.tobytes(), assign.tobytes())
    held = getattr(cipher, "_nodes", None)
    if held is not None and held[0] is g and held[1] is h and held[2] is sample and held[3] == key:
        return held[4]  # type: ignore[no-any-return]
    packed: list[int] = []
    for n in nodes.tolist():
        inside = (assign == n) & sample
        packed += encoding.pack_rows(np.where(inside, g, 0), np.where(inside, h, 0))
    cts = cipher.kernels.encrypt(cipher.private_key, packed, cipher.pool)
    cipher._nodes = (g, h, sample, key, cts)  # type: ignore[attr-defined]
    return cts


class HiddenRemoteHost(RemoteHost):
    """A host as tree.Source and tree.Router at the guest when the host must not learn node membership."""

    _hist_op = "hist_all"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cuts: dict[int, np.ndarray] = {}  # split id -> cut of every row of ``data``
        self._need: list[int] = []

    def start_tree(self, g: np.ndarray, h: np.ndarray, sample: np.ndarray) -> None:
        self._tree = (g, h, sample)
        self._send("tree", hidden=True, n_sampled=int(sample.sum()))

    def request_histograms(self, assign: np.ndarray, nodes: np.ndarray) -> None:
        self._n_nodes, self._assign = len(nodes), assign
        self._send("hist_all", n_nodes=len(nodes), gh=encrypt_nodes(self.cipher, *self._tree, assign, nodes))

    def request_splits(self, nodes: np.ndarray, candidates: np.ndarray, ties: Sequence[np.ndarray] = ()) -> None:
        self._n_splits = len(nodes)
        self._members = [self._assign == n for n in nodes.tolist()]  # before the builder reassigns rows
        if len(nodes):
            groups = list(ties) if len(ties) == len(nodes) else [np.asarray([c]) for c in candidates.tolist()]
            sizes = np.asarray([len(t) for t in groups], dtype=np.int64)
            self._send("split_all", ties=np.concatenate(groups).astype(np.int64), sizes=sizes)

    def collect_splits(self) -> list[tuple[Any, np.ndarray]]:
        if not self._n_splits:
            return []
        reply = self._recv("split_all")
        ids, cuts = reply.get("split_ids"), self._unpack(reply.get("left"), self._n_splits, len(self._assign))
        if not isinstance(ids, np.ndarray) or ids.shape != (self._n_splits,) or ids.dtype.kind not in "iu":
            raise FederationError(f"host {self.owner} sent a malformed split answer")
        return [(int(ids[i]), cuts[i][self._members[i]]) for i in range(self._n_splits)]

    def _unpack(self, left: object, k: int, n_rows: int) -> np.ndarray:
        """(k, n_rows) booleans from a host's packed bits, or a FederationError if they are not exactly that."""
        if not isinstance(left, np.ndarray) or left.dtype != np.uint8 or left.shape != (k, (n_rows + 7) // 8):
            raise FederationError(f"host {self.owner} answered {_shape(left)} for the cuts of {k} splits x {n_rows} rows")
        return np.unpackbits(left, axis=1, count=n_rows).astype(bool)

    # Router: routing happens here, on the cuts fetched by request_cuts/collect_cuts
    def request_cuts(self, split_ids: Sequence[int]) -> None:
        self._need = sorted({int(i) for i in split_ids} - set(self._cuts))
        if self._need:
            self._send("cuts", data=self.data, split_ids=np.asarray(self._need, dtype=np.int64))

    def collect_cuts(self, n_rows: int) -> None:
        if self._need:
            cuts = self._unpack(self._recv("cuts").get("left"), len(self._need), n_rows)
            self._cuts.update(zip(self._need, cuts, strict=True))
            self._need = []

    def ask(self, split_ids: np.ndarray, rows: np.ndarray) -> None:
        self._asked_pairs = (split_ids, rows)

    def answer(self) -> np.ndarray:
        split_ids, rows = self._asked_pairs
        left = np.zeros(len(rows), dtype=bool)
        for i in np.unique(split_ids).tolist():
            at = split_ids == i
            left[at] = self._cuts[i][rows[at]]
        return left


def prefetch_cuts(trees: Sequence[Tree], remotes: Mapping[str, RemoteHost], n_rows: int) -> None:
    """Each hidden host's cuts of every row by its splits in ``trees`` (asked of all hosts first, then collected)."""
    hidden = {h: r for h, r in remotes.items() if isinstance(r, HiddenRemoteHost)}
    for owner, remote in hidden.items():
        remote.request_cuts([s for t in trees for n, s in enumerate(t.split) if t.owner[n] == owner and not t.is_leaf(n)])
    for remote in hidden.values():
        remote.collect_cuts(n_rows)


def _shape(obj: object) -> str:
    return f"an array of shape {obj.shape} ({obj.dtype})" if isinstance(obj, np.ndarray) else type(obj).__name__
