"""The SecureBoost messages between the guest and each host (docs/protocols/secureboost.md).

The guest drives; a host runs a command loop. Per tree the guest sends the packed (g, h)
of the sampled rows encrypted under its own key; per level it sends the rows' node
assignment and the nodes to build; the host answers with encrypted, shuffled, compressed
cumulative bin sums; the guest sends the (node, opaque candidate) pairs it chose at this
host and the host answers with a split id and which of the node's rows go left. Prediction
asks, per depth, which (split id, row) pairs go left.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.paillier_kernels import (
    Kernels,
    as_chunk_map,
    check_ciphertexts,
    object_array,
    share,
)
from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report
from airflow_provider_powerfl.algorithms.secureboost import encoding
from airflow_provider_powerfl.algorithms.secureboost.hidden import HiddenSpaceHost
from airflow_provider_powerfl.algorithms.secureboost.histograms import bin_products
from airflow_provider_powerfl.algorithms.secureboost.local import CandidateLayout
from airflow_provider_powerfl.crypto import parallel
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey
from airflow_provider_powerfl.crypto.powmod import horner_fold
from airflow_provider_powerfl.crypto.shuffle import secure_permutation
from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
COMPRESS_THREADS = min(4, os.cpu_count() or 1)
CMD, REPLY = "secureboost.cmd", "secureboost.reply"
_CSPRNG = random.SystemRandom()


# -- guest side ------------------------------------------------------------------------------
class TreeCipher:
    """The guest's per-tree encryption of packed (g, h), shared by all hosts (encrypted once per tree).

    Obfuscators the pool made while the guest waited are used first (one product per row); the
    kernels (Spark tasks) encrypt the rest.
    """

    def __init__(self, private_key: PaillierPrivateKey, kernels: Kernels, pool: ObfuscatorPool | None = None) -> None:
        self.private_key = private_key
        self.kernels = kernels
        self.pool = pool
        self._inputs: tuple[np.ndarray, np.ndarray] | None = None
        self._rows = np.zeros(0, dtype=np.int64)
        self._cts = object_array([])

    def encrypt(self, g: np.ndarray, h: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sampled rows, their ciphertexts); the second host of a tree gets the first one's."""
        if self._inputs is None or self._inputs[0] is not g or self._inputs[1] is not h:
            self._rows = np.flatnonzero(sample)
            packed = encoding.pack_rows(g[self._rows], h[self._rows])
            self._cts = self.kernels.encrypt(self.private_key, packed, self.pool)
            self._inputs = (g, h)
            log.info("encrypted %d rows", len(packed))
        return self._rows, self._cts


class RemoteHost:
    """One host as a tree.Source and tree.Router at the guest."""

    _hist_op = "hist"  # the command histograms answer (hidden_guest.HiddenRemoteHost: "hist_all")

    def __init__(
        self, party: Party, host: str, cipher: TreeCipher, n_candidates: int, per_ciphertext: int, noisy: bool = False
    ) -> None:
        self.party, self.owner, self.cipher = party, host, cipher
        self.n_candidates, self.per_ciphertext, self.noisy = n_candidates, per_ciphertext, noisy
        self.groups = -(-n_candidates // per_ciphertext)
        self._n_nodes = 0
        self._n_splits = 0

    def _send(self, op: str, **fields: Any) -> None:
        self.party.send(self.owner, CMD, {"op": op, **fields})

    def _recv(self, op: str) -> dict[str, Any]:
        obj = self.party.recv(self.owner, REPLY)
        if not isinstance(obj, dict) or obj.get("op") != op:
            raise FederationError(f"host {self.owner} sent {_describe(obj)} as {REPLY}, expected the answer to {op!r}")
        return obj

    def start_tree(self, g: np.ndarray, h: np.ndarray, sample: np.ndarray) -> None:
        rows, cts = self.cipher.encrypt(g, h, sample)
        self._send("tree", rows=rows.astype(np.int64), gh=cts)

    def request_histograms(self, assign: np.ndarray, nodes: np.ndarray) -> None:
        self._n_nodes = len(nodes)
        self._send("hist", assign=assign.astype(np.int32), nodes=nodes.astype(np.int64))

    def collect_histograms(self) -> np.ndarray:
        reply = self._recv(self._hist_op)
        key = self.cipher.private_key
        sums = check_ciphertexts(
            key.public_key, reply.get("sums"), self._n_nodes * self.groups, peer=self.owner, what=f"{REPLY} histograms"
        )
        values = self.cipher.kernels.decrypt(key, sums)
        out = np.empty((self._n_nodes, self.n_candidates, 2))
        for k in range(self._n_nodes):
            digits: list[int] = []
            for j in range(self.groups):
                count = min(self.per_ciphertext, self.n_candidates - j * self.per_ciphertext)
                digits += encoding.split_digits(values[k * self.groups + j], count)
            out[k] = [encoding.unpack_sum(d, self.noisy) for d in digits]  # ints < 2^52: exact in float64
        return out

    def request_splits(self, nodes: np.ndarray, candidates: np.ndarray, ties: Sequence[np.ndarray] = ()) -> None:
        self._n_splits = len(nodes)
        if len(nodes):
            self._send("split", nodes=nodes, candidates=candidates)

    def collect_splits(self) -> list[tuple[Any, np.ndarray]]:
        if not self._n_splits:
            return []
        reply = self._recv("split")
        ids, left, sizes = reply.get("split_ids"), reply.get("left"), reply.get("sizes")
        if (
            not all(isinstance(a, np.ndarray) for a in (ids, left, sizes))
            or len(ids) != self._n_splits
            or len(sizes) != self._n_splits
        ):
            raise FederationError(f"host {self.owner} sent a malformed split answer")
        bounds = np.r_[0, np.cumsum(sizes)]
        if bounds[-1] != len(left):
            raise FederationError(f"host {self.owner} sent split directions for {len(left)} rows, announced {bounds[-1]}")
        return [(int(ids[i]), left[bounds[i] : bounds[i + 1]].astype(bool)) for i in range(self._n_splits)]

    # Router: ``data`` names the host's data set the rows index ("eval" while training, "predict")
    data = "predict"

    def ask(self, split_ids: np.ndarray, rows: np.ndarray) -> None:
        self._asked = len(rows)
        self._send("route", data=self.data, split_ids=split_ids.astype(np.int64), rows=rows.astype(np.int64))

    def answer(self) -> np.ndarray:
        reply = self._recv("route")
        left = reply.get("left")
        if not isinstance(left, np.ndarray) or left.shape != (self._asked,):
            raise FederationError(f"host {self.owner} answered {_describe(left)} for {self._asked} routing questions")
        return left.astype(bool)

    def command(self, op: str, **fields: Any) -> None:
        """A command without an answer (prediction start and end, end of training)."""
        self._send(op, **fields)


# -- host side -------------------------------------------------------------------------------
class HostServer(HiddenSpaceHost):
    """A host's side of training or prediction: answers the guest's commands until told to stop (with a hidden
    instance space, the commands of hidden.HiddenSpaceHost)."""

    def __init__(
        self, party: Party, guest: str, executor: object, progress: ProgressCallback | None = None, trees: int | None = None
    ) -> None:
        self.party, self.guest = party, guest
        self.progress, self.trees, self.trees_started = progress, trees, 0  # told of each tree the guest starts
        self._executor = executor
        self._map, self._chunk_rows = as_chunk_map(executor)
        self._parts = getattr(executor, "parallelism", None) or parallel.threads()  # a level's spans (histograms.bin_products)
        self._shared_gh: Any = None  # the tree's ciphertexts shared with the chunks (a Spark broadcast) or None
        self._release_gh: Any = lambda: None
        self.public_key: PaillierPublicKey | None = None
        self.splits: dict[int, tuple[int, float]] = {}  # split id -> (feature, threshold): never sent
        self._threads = ThreadPoolExecutor(max_workers=COMPRESS_THREADS, thread_name_prefix="secureboost-compress")
        self.data: dict[str, np.ndarray] = {}

    def setup_training(
        self,
        bins: np.ndarray,
        n_bins: np.ndarray,
        edges: Sequence[np.ndarray],
        public_key: PaillierPublicKey,
        per_ciphertext: int,
        noise: float = 0.0,
    ) -> None:
        self.bins, self.edges, self.public_key = bins, edges, public_key
        self.layout = CandidateLayout(n_bins)
        self.per_ciphertext, self.noise = per_ciphertext, noise
        # the most frequent bin of each feature is never summed: it is the node total minus the others
        self.default_bin = np.array([np.bincount(bins[:, f]).argmax() for f in range(bins.shape[1])], dtype=np.int64)

    def serve(self, stop: str) -> dict[str, Any]:
        """Answer commands until ``stop`` arrives; returns that command."""
        while True:
            cmd = self.party.recv(self.guest, CMD)
            if not isinstance(cmd, dict) or not isinstance(cmd.get("op"), str):
                raise FederationError(f"guest {self.guest} sent {_describe(cmd)} as {CMD}, expected a command")
            op = cmd["op"]
            if op in ("tree", stop) and self.trees_started:  # a tree ends where the next (or the training) starts
                report(self.progress, TrainingProgress("tree", self.trees_started, self.trees))
            if op == stop:
                self._release_gh()
                return cmd
            self.trees_started += op == "tree"
            handler = getattr(self, f"_on_{op}", None)
            if handler is None:
                raise FederationError(f"guest {self.guest} sent unknown or out-of-place command {op!r}")
            reply = handler(cmd)
            if reply is not None:
                self.party.send(self.guest, REPLY, {"op": op, **reply})

    def _on_tree(self, cmd: dict[str, Any]) -> None:
        if cmd.get("hidden") is True:
            return self._hidden_tree(cmd)
        rows, gh = cmd.get("rows"), cmd.get("gh")
        n = len(self.bins)
        if not isinstance(rows, np.ndarray) or rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= n)):
            raise FederationError(f"guest {self.guest} sent sampled rows outside 0..{n - 1}")
        self.rows, self.n_sampled = rows, len(rows)
        self.gh = check_ciphertexts(self.public_key, gh, len(rows), peer=self.guest, what=f"{CMD} gradients")
        self._release_gh()
        self._shared_gh, self._release_gh = share(self._executor, list(self.gh))  # sent once per tree, not per level
        self.sample = np.zeros(n, dtype=bool)
        self.sample[rows] = True
        self.row_ct = np.full(n, -1, dtype=np.int64)
        self.row_ct[rows] = np.arange(len(rows))
        self.perm = secure_permutation(len(self.layout))  # opaque candidate ids for this tree

    def _on_hist(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assign, nodes = cmd.get("assign"), cmd.get("nodes")
        if not isinstance(assign, np.ndarray) or assign.shape != (len(self.bins),) or not isinstance(nodes, np.ndarray):
            raise FederationError(f"guest {self.guest} sent a malformed histogram request")
        self.assign = assign
        row_sets = [np.flatnonzero((assign == n) & self.sample) for n in nodes.tolist()]
        products = bin_products(
            self._map,
            self._chunk_rows,
            self._parts,
            self.public_key.nsquare,
            self.gh,
            self._shared_gh,
            self.row_ct,
            self.bins,
            row_sets,
            self.default_bin,
        )
        return self._fold(products)

    def _fold(self, products: list[tuple[mpz, list[dict[int, mpz]]]]) -> dict[str, Any]:
        """The level's answer: every node's encrypted left sums, shuffled, compressed, noised if asked, rerandomized."""
        per_ct, groups = self.per_ciphertext, []
        for total, per_bin in products:
            lefts = self._node_lefts(total, per_bin)
            groups += [lefts[i : i + per_ct] for i in range(0, len(lefts), per_ct)]
        packed = horner_fold(groups, encoding.SLOT_BITS, self.public_key.nsquare, self._threads, COMPRESS_THREADS)
        if self.noise:
            packed = self.public_key.encrypt_with([self._noise_plaintext(len(g)) for g in groups], packed)  # adds it
        return {"sums": object_array(self.public_key.rerandomize(packed, self._threads, COMPRESS_THREADS))}

    def _noise_plaintext(self, count: int) -> mpz:
        """Residue of ``count`` packed (g, h) Gaussian draws of sd noise x encoding.row_bound, clipped so a noisy
        sum still fits its slot (|honest sum| < 2^51); drawn from the OS CSPRNG, since the guest must not predict them."""
        sd, clip = self.noise * encoding.row_bound(self.n_sampled), (1 << (encoding.SUM_BITS - 1)) - 1
        draw = [max(-clip, min(clip, round(_CSPRNG.gauss(0.0, sd)))) for _ in range(2 * count)]
        value = sum((draw[2 * j] + (draw[2 * j + 1] << encoding.H_BITS)) << (encoding.SLOT_BITS * j) for j in range(count))
        return self.public_key.encode_int(value)

    def _node_lefts(self, total: mpz, per_bin: list[dict[int, mpz]]) -> list[mpz]:
        """Encrypted left sums of every candidate of one node, in this tree's shuffled order."""
        nsq = self.public_key.nsquare
        lefts: list[mpz] = []
        for f, n_bins in enumerate(self.layout.n_bins.tolist()):
            if n_bins < 2:
                continue
            got = per_bin[f]
            others = mpz(1)
            for c in got.values():
                others = others * c % nsq
            cells = [got.get(b, mpz(1)) for b in range(n_bins)]
            cells[self.default_bin[f]] = total * gmpy2.invert(others, nsq) % nsq
            acc = mpz(1)
            for b in range(n_bins - 1):
                acc = acc * cells[b] % nsq
                lefts.append(acc)
        return [lefts[i] for i in self.perm.tolist()]

    def _on_split(self, cmd: dict[str, Any]) -> dict[str, Any]:
        nodes, cands = cmd.get("nodes"), cmd.get("candidates")
        if not isinstance(nodes, np.ndarray) or not isinstance(cands, np.ndarray) or nodes.shape != cands.shape:
            raise FederationError(f"guest {self.guest} sent a malformed split command")
        if len(cands) and (cands.min() < 0 or cands.max() >= len(self.perm)):
            raise FederationError(f"guest {self.guest} chose a candidate outside 0..{len(self.perm) - 1}")
        ids, lefts, sizes = [], [], []
        for n, c in zip(nodes.tolist(), cands.tolist(), strict=True):
            original = self._first_alike(int(self.perm[c]), n)
            f, t = int(self.layout.feature[original]), int(self.layout.threshold[original])
            rows = np.flatnonzero(self.assign == n)
            ids.append(len(self.splits))
            self.splits[len(self.splits)] = (f, float(self.edges[f][t]))
            lefts.append((self.bins[rows, f] <= t).astype(np.uint8))
            sizes.append(len(rows))
        return {
            "split_ids": np.asarray(ids, dtype=np.int64),
            "left": np.concatenate(lefts),
            "sizes": np.asarray(sizes, dtype=np.int64),
        }

    def _first_alike(self, cand: int, node: int) -> int:
        """The first candidate in column order that cuts the node's sampled rows into the same two sets as ``cand``.

        Such candidates have the same sums, so the same gain: the guest picked one of them at random
        (the order is shuffled), the plaintext GBDT the first. Answering with the first keeps the
        trees equal on unseen rows too.
        """
        rows = np.flatnonzero((self.assign == node) & self.sample)
        f, t = int(self.layout.feature[cand]), int(self.layout.threshold[cand])
        left = self.bins[rows, f] <= t
        if left.all() or not left.any():
            return cand
        B = self.bins[rows].astype(np.int64)
        max_l, min_l = B[left].max(axis=0), B[left].min(axis=0)
        max_r, min_r = B[~left].max(axis=0), B[~left].min(axis=0)
        # same sets: every left value below every right one, first threshold max_l; or mirrored (equal gain)
        threshold = np.where(max_l < min_r, max_l, np.where(max_r < min_l, max_r, -1))
        ok = (threshold >= 0) & (threshold <= self.layout.n_bins - 2)
        offset = np.concatenate([[0], np.cumsum(np.maximum(self.layout.n_bins - 1, 0))[:-1]])
        found = (offset + threshold)[ok]
        return int(found.min()) if len(found) else cand

    def _on_route(self, cmd: dict[str, Any]) -> dict[str, Any]:
        X = self.data.get(cmd.get("data"))  # type: ignore[arg-type]
        ids, rows = cmd.get("split_ids"), cmd.get("rows")
        if X is None or not isinstance(ids, np.ndarray) or not isinstance(rows, np.ndarray) or ids.shape != rows.shape:
            raise FederationError(f"guest {self.guest} sent a malformed routing question (data {cmd.get('data')!r})")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(X)):
            raise FederationError(f"guest {self.guest} asked about rows outside 0..{len(X) - 1}")
        unique, inverse = np.unique(ids, return_inverse=True)
        try:
            table = np.array([self.splits[i] for i in unique.tolist()], dtype=np.float64).reshape(-1, 2)
        except KeyError as exc:
            raise FederationError(
                f"guest {self.guest} asked about split id {exc.args[0]}, which this host does not hold"
            ) from None
        feats, thr = table[inverse, 0].astype(np.int64), table[inverse, 1]
        return {"left": (X[rows, feats] <= thr).astype(np.uint8)}


def _describe(obj: object) -> str:
    if isinstance(obj, dict):
        return f"a dict with op {obj.get('op')!r}"
    return type(obj).__name__
