"""A host's answers when the guest hides the instance space (``hide_instance_space``, docs/protocols/secureboost.md).

The host never learns which rows are in which node. Per node to build, the guest sends every
row's packed (g, h) ciphertext, a fresh ``[[0]]`` for the rows outside the node (and for rows
not sampled), so the host sums every row into every node's histogram; when one of the host's
candidates wins, the host answers the cut of *every* row by that threshold and the guest
intersects it with the node itself. Prediction and validation ask for the cuts of every row
by the model's host splits, so routing happens at the guest.

Commands (all on protocol.CMD, answers on protocol.REPLY):

- ``tree`` with ``hidden: True`` and ``n_sampled`` (a count only: which rows are sampled stays hidden);
- ``hist_all``: ``n_nodes`` k and ``gh``, k * n ciphertexts (node j's rows at j * n .. j * n + n - 1);
- ``split_all``: per chosen split, the opaque candidates of equal gain (``ties`` flattened, ``sizes``); the
  host takes the first in its column order (the plaintext GBDT's choice) and answers split ids and packed cut bits;
- ``cuts``: ``data`` ("eval" or "predict") and ``split_ids``; packed cut bits of every row of that data per split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.paillier_kernels import check_ciphertexts, share
from airflow_provider_powerfl.algorithms.param_checks import is_int
from airflow_provider_powerfl.algorithms.secureboost.histograms import bin_products
from airflow_provider_powerfl.crypto.shuffle import secure_permutation
from airflow_provider_powerfl.exceptions import FederationError

CMD = "secureboost.cmd"


def _int_vector(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu"


class HiddenSpaceHost:
    """Mixed into protocol.HostServer: the hidden instance space's commands (the attributes are HostServer's)."""

    bins: np.ndarray
    guest: str
    splits: dict[int, tuple[int, float]]
    data: dict[str, np.ndarray]

    def _hidden_tree(self, cmd: dict[str, Any]) -> None:
        n_sampled, n = cmd.get("n_sampled"), len(self.bins)
        if not is_int(n_sampled) or not 1 <= n_sampled <= n:
            raise FederationError(f"guest {self.guest} announced {n_sampled!r} sampled rows of {n}")
        self.n_sampled = int(n_sampled)
        self.perm = secure_permutation(len(self.layout))  # type: ignore[attr-defined]
        self._level, self._split_room = -1, 0  # levels asked so far; splits the guest may still ask at this level

    def _on_hist_all(self, cmd: dict[str, Any]) -> dict[str, Any]:
        k, n = cmd.get("n_nodes"), len(self.bins)
        level = getattr(self, "_level", None)
        # level L has at most 2^L nodes, of which the guest builds at most 2^(L-1) (one per sibling pair; the root)
        if level is None or not is_int(k) or not 1 <= k <= 1 << max(level, 0):
            raise FederationError(f"guest {self.guest} asked for {k!r} hidden node histograms out of place")
        gh = check_ciphertexts(self.public_key, cmd.get("gh"), k * n, peer=self.guest, what=f"{CMD} node gradients")  # type: ignore[attr-defined]
        self._release_gh()  # type: ignore[has-type]
        self._shared_gh, self._release_gh = share(self._executor, list(gh))  # type: ignore[attr-defined]
        every = np.arange(n)
        products = bin_products(
            self._map,  # type: ignore[attr-defined]
            self._chunk_rows,  # type: ignore[attr-defined]
            self._parts,  # type: ignore[attr-defined]
            self.public_key.nsquare,  # type: ignore[attr-defined]
            gh,
            self._shared_gh,
            every,
            self.bins,
            [every] * k,
            self.default_bin,  # type: ignore[attr-defined]
            offsets=[j * n for j in range(k)],
        )
        self._level, self._split_room = level + 1, 1 << (level + 1)  # every node of this level may split, once
        return self._fold(products)  # type: ignore[attr-defined,no-any-return]

    def _on_split_all(self, cmd: dict[str, Any]) -> dict[str, Any]:
        ties, sizes = cmd.get("ties"), cmd.get("sizes")
        n_cand = len(self.perm)  # type: ignore[attr-defined]
        if not _int_vector(ties) or not _int_vector(sizes) or not len(sizes) or sizes.min() < 1 or sizes.sum() != len(ties):
            raise FederationError(f"guest {self.guest} sent a malformed hidden split command")
        if len(sizes) > getattr(self, "_split_room", 0):
            raise FederationError(f"guest {self.guest} asked for {len(sizes)} splits, more than this level's nodes")
        if ties.min() < 0 or ties.max() >= n_cand:
            raise FederationError(f"guest {self.guest} chose a candidate outside 0..{n_cand - 1}")
        self._split_room = 0  # one split command per level
        layout, ids, cuts = self.layout, [], []  # type: ignore[attr-defined]
        for group in np.split(ties, np.cumsum(sizes)[:-1]):
            original = int(self.perm[group].min())  # type: ignore[attr-defined]  # equal gain: the first in column order
            f, t = int(layout.feature[original]), int(layout.threshold[original])
            ids.append(len(self.splits))
            self.splits[len(self.splits)] = (f, float(self.edges[f][t]))  # type: ignore[attr-defined]
            cuts.append(self.bins[:, f] <= t)
        return {"split_ids": np.asarray(ids, dtype=np.int64), "left": np.packbits(np.stack(cuts), axis=1)}

    def _on_cuts(self, cmd: dict[str, Any]) -> dict[str, Any]:
        X, ids = self.data.get(cmd.get("data")), cmd.get("split_ids")  # type: ignore[arg-type]
        if X is None or not _int_vector(ids) or not len(ids) or len(np.unique(ids)) != len(ids):
            raise FederationError(f"guest {self.guest} sent a malformed cut question (data {cmd.get('data')!r})")
        try:
            table = [self.splits[i] for i in ids.tolist()]
        except KeyError as exc:
            raise FederationError(
                f"guest {self.guest} asked about split id {exc.args[0]}, which this host does not hold"
            ) from None
        feats = np.asarray([f for f, _ in table], dtype=np.int64)
        thr = np.asarray([t for _, t in table], dtype=np.float64)
        return {"left": np.packbits((X[:, feats] <= thr).T, axis=1)}
