"""The tree builder both paths share: only where the per-candidate histogram sums come from differs.

A *source* owns some columns: the plaintext source bins columns it holds; the guest's
remote source is a host reached through the protocol. Per level the builder asks every
source for the cumulative (left) sums of the smaller child of each sibling pair, derives
the other child as parent minus child, scores every candidate with XGBoost's gain and
asks the owning source to split the rows. Sums are integers (encoding.py), so the result
does not depend on which source produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

LOCAL = ""  # owner of a split made on the model holder's own columns
MIN_GAIN = 1e-6  # XGBoost's kRtEps: smaller gains do not split


class Source(Protocol):
    """Columns of one party as the builder sees them. Requests are two-phase so hosts work concurrently."""

    owner: str
    n_candidates: int

    def start_tree(self, g: np.ndarray, h: np.ndarray, sample: np.ndarray) -> None: ...
    def request_histograms(self, assign: np.ndarray, nodes: np.ndarray) -> None: ...
    def collect_histograms(self) -> np.ndarray: ...  # (len(nodes), n_candidates, 2) left sums
    # ``ties``: per node, every candidate of this source with the chosen gain (a hidden-instance-space host picks
    # the first in its column order, as the plaintext GBDT does); other sources ignore it
    def request_splits(self, nodes: np.ndarray, candidates: np.ndarray, ties: Sequence[np.ndarray] = ()) -> None: ...
    def collect_splits(self) -> list[tuple[Any, np.ndarray]]: ...  # per node: (split ref, left mask over its rows)


@dataclass(frozen=True)
class TreeParams:
    max_depth: int
    reg_lambda: float
    gamma: float
    min_child_weight: float
    learning_rate: float


@dataclass
class Tree:
    """Nodes as parallel lists; node 0 is the root. ``split`` is (feature, threshold) for LOCAL, else the host's split id."""

    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)
    split: list[Any] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)

    def add_node(self) -> int:
        for lst, default in (
            (self.left, -1),
            (self.right, -1),
            (self.owner, LOCAL),
            (self.split, None),
            (self.value, 0.0),
            (self.gain, 0.0),
        ):
            lst.append(default)
        return len(self.left) - 1

    def is_leaf(self, node: int) -> bool:
        return self.left[node] < 0

    @property
    def depth(self) -> int:
        depth, level = 0, [0]
        while True:
            level = [c for n in level if not self.is_leaf(n) for c in (self.left[n], self.right[n])]
            if not level:
                return depth
            depth += 1

    def to_dict(self) -> dict[str, Any]:
        split = [list(s) if isinstance(s, tuple) else s for s in self.split]
        return {
            "left": self.left,
            "right": self.right,
            "owner": self.owner,
            "split": split,
            "value": self.value,
            "gain": self.gain,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tree:
        split = [(int(s[0]), float(s[1])) if isinstance(s, list) else s for s in d["split"]]
        return cls([int(v) for v in d["left"]], [int(v) for v in d["right"]], [str(v) for v in d["owner"]],
                   split, [float(v) for v in d["value"]], [float(v) for v in d["gain"]])  # fmt: skip


def grow_tree(
    sources: Sequence[Source],
    g: np.ndarray,
    h: np.ndarray,
    scale: tuple[float, float],
    sample: np.ndarray,
    params: TreeParams,
) -> tuple[Tree, np.ndarray]:
    """One tree on quantized g, h (int64; ``scale`` = (2^-fg, 2^-fh)); returns it and every row's leaf."""
    n_rows = len(g)
    for src in sources:
        src.start_tree(g, h, sample)
    gw = np.where(sample, g, 0).astype(np.float64)  # exact: |sum| < 2^52
    hw = np.where(sample, h, 0).astype(np.float64)
    tree = Tree()
    tree.add_node()
    assign = np.zeros(n_rows, dtype=np.int32)
    totals = {0: (gw.sum(), hw.sum())}
    hists: dict[int, list[np.ndarray]] = {}
    level, parent_of = [0], {0: -1}
    for _depth in range(params.max_depth):
        _level_histograms(sources, tree, level, parent_of, assign, sample, hists)
        decisions = {}
        for n in level:
            best = _best_split(hists[n], totals[n], scale, params)
            if best is not None:
                decisions[n] = best
        for n in level:
            hists.pop(parent_of[n], None)
        if not decisions:
            break
        level = _split_nodes(sources, tree, decisions, assign, (gw, hw), totals, parent_of)
    _set_leaf_values(tree, totals, scale, params)
    return tree, assign


def _level_histograms(
    sources: Sequence[Source],
    tree: Tree,
    level: list[int],
    parent_of: dict[int, int],
    assign: np.ndarray,
    sample: np.ndarray,
    hists: dict[int, list[np.ndarray]],
) -> None:
    """Every node of ``level``'s histograms into ``hists``: the root and the smaller child of each pair from the
    sources (hosts asked first), its sibling as the parent's minus it."""
    counts = np.bincount(assign[sample], minlength=len(tree.left))
    built = [n for n in level if parent_of[n] < 0 or _is_smaller(tree, n, parent_of[n], counts)]
    nodes = np.asarray(built, dtype=np.int64)
    for src in reversed(sources):  # hosts first: they work while the guest sums its own columns
        src.request_histograms(assign, nodes)
    fresh = [src.collect_histograms() for src in sources]
    for i, n in enumerate(built):
        hists[n] = [f[i] for f in fresh]
    for n in level:
        if n not in hists:
            sib = _sibling(tree, n, parent_of[n])
            hists[n] = [p - s for p, s in zip(hists[parent_of[n]], hists[sib], strict=True)]


def _split_nodes(
    sources: Sequence[Source],
    tree: Tree,
    decisions: dict[int, tuple[int, int, float, np.ndarray]],
    assign: np.ndarray,
    weighted: tuple[np.ndarray, np.ndarray],
    totals: dict[int, tuple[float, float]],
    parent_of: dict[int, int],
) -> list[int]:
    """Each decided node split by its owning source into two children (rows reassigned, child totals kept); the
    next level's nodes."""
    gw, hw = weighted
    for s, src in enumerate(sources):
        mine = [(n, d[1], d[3]) for n, d in decisions.items() if d[0] == s]
        nodes, cands = np.asarray([m[0] for m in mine], dtype=np.int64), np.asarray([m[1] for m in mine], dtype=np.int64)
        src.request_splits(nodes, cands, [m[2] for m in mine])
    results: dict[int, tuple[Any, np.ndarray]] = {}
    for s, src in enumerate(sources):
        mine = [n for n, d in decisions.items() if d[0] == s]
        results.update(zip(mine, src.collect_splits(), strict=True))
    next_level = []
    for n, (s, _cand, gain, _ties) in decisions.items():
        ref, left_mask = results[n]
        rows = np.flatnonzero(assign == n)
        lc, rc = tree.add_node(), tree.add_node()
        tree.left[n], tree.right[n] = lc, rc
        tree.owner[n], tree.split[n], tree.gain[n] = sources[s].owner, ref, float(gain)
        assign[rows[~left_mask]] = rc
        assign[rows[left_mask]] = lc
        for child in (lc, rc):
            in_child = assign == child
            totals[child] = (gw[in_child].sum(), hw[in_child].sum())
            parent_of[child] = n
        next_level += [lc, rc]
    return next_level


def _set_leaf_values(tree: Tree, totals: dict[int, tuple[float, float]], scale: tuple[float, float], params: TreeParams) -> None:
    """Each leaf's value: -G / (H + lambda) times the learning rate (0 where the denominator is not positive)."""
    sg, sh = scale
    for n in range(len(tree.left)):
        if tree.is_leaf(n):
            G, H = totals[n][0] * sg, totals[n][1] * sh
            denom = H + params.reg_lambda
            tree.value[n] = float(-G / denom * params.learning_rate) if denom > 0 else 0.0


def _sibling(tree: Tree, node: int, parent: int) -> int:
    return tree.right[parent] if tree.left[parent] == node else tree.left[parent]


def _is_smaller(tree: Tree, node: int, parent: int, counts: np.ndarray) -> bool:
    """The child whose histogram is built: fewer sampled rows, the left one on a tie."""
    sib = _sibling(tree, node, parent)
    a, b = counts[node], counts[sib]
    return bool(a < b or (a == b and tree.left[parent] == node))


def _best_split(
    hists: Sequence[np.ndarray], total: tuple[float, float], scale: tuple[float, float], params: TreeParams
) -> tuple[int, int, float, np.ndarray] | None:
    """(source index, candidate, gain, the source's candidates of that gain) of the best valid split, first source and
    candidate on ties."""
    sg, sh = scale
    G, H = total[0] * sg, total[1] * sh
    lam = params.reg_lambda
    parent = G * G / (H + lam) if H + lam > 0 else 0.0
    best: tuple[int, int, float, np.ndarray] | None = None
    for s, hist in enumerate(hists):
        if hist.shape[0] == 0:
            continue
        GL, HL = hist[:, 0] * sg, hist[:, 1] * sh
        GR, HR = G - GL, H - HL
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = GL * GL / (HL + lam) + GR * GR / (HR + lam) - parent
        gain[(HL < params.min_child_weight) | (HR < params.min_child_weight) | ~np.isfinite(gain)] = -np.inf
        c = int(np.argmax(gain))
        if best is None or gain[c] > best[2]:
            best = (s, c, float(gain[c]), np.flatnonzero(gain == gain[c]))
    if best is None or not best[2] > max(params.gamma, MIN_GAIN):
        return None
    return best


# -- routing rows through trees (prediction) ------------------------------------------------
class Router(Protocol):
    """A host answering, for (split id, row) pairs, whether the row goes left. Two-phase like Source."""

    def ask(self, split_ids: np.ndarray, rows: np.ndarray) -> None: ...
    def answer(self) -> np.ndarray: ...


def route(
    trees: Sequence[Tree], n_rows: int, local_left: Callable[[int, float, np.ndarray], np.ndarray], routers: Mapping[str, Router]
) -> np.ndarray:
    """Leaf of every row in every tree, (n_trees, n_rows): one batched question per host per depth, for all trees."""
    pos = np.zeros((len(trees), n_rows), dtype=np.int64)
    active = [np.arange(n_rows) for _ in trees]
    while any(len(a) for a in active):
        asks: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        go_left: list[np.ndarray] = []
        for t, tree in enumerate(trees):
            rows = active[t]
            nodes = pos[t, rows]
            internal = np.asarray(tree.left, dtype=np.int64)[nodes] >= 0
            rows, nodes = rows[internal], nodes[internal]
            active[t] = rows
            left = np.zeros(len(rows), dtype=bool)
            for n in np.unique(nodes):
                at = np.flatnonzero(nodes == n)
                if tree.owner[n] == LOCAL:
                    feature, threshold = tree.split[n]
                    left[at] = local_left(feature, threshold, rows[at])
                else:
                    asks.setdefault(tree.owner[n], []).append((t, at, np.full(len(at), tree.split[n], dtype=np.int64)))
            go_left.append(left)
        for owner, items in asks.items():
            routers[owner].ask(np.concatenate([s for _, _, s in items]), np.concatenate([active[t][at] for t, at, _ in items]))
        for owner, items in asks.items():
            answer = routers[owner].answer()
            offset = 0
            for t, at, _ in items:
                go_left[t][at] = answer[offset : offset + len(at)]
                offset += len(at)
        for t, tree in enumerate(trees):
            rows = active[t]
            nodes = pos[t, rows]
            lefts = np.asarray(tree.left, dtype=np.int64)[nodes]
            rights = np.asarray(tree.right, dtype=np.int64)[nodes]
            pos[t, rows] = np.where(go_left[t], lefts, rights)
    return pos
