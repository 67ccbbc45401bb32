"""The boosting loop both paths share: rounds, row subsampling, quantization, early stopping."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report
from airflow_provider_powerfl.algorithms.secureboost import encoding
from airflow_provider_powerfl.algorithms.secureboost.objectives import Objective
from airflow_provider_powerfl.algorithms.secureboost.tree import Source, Tree, TreeParams, grow_tree

log = logging.getLogger(__name__)

# leaves of one round's trees on the validation rows, (n_outputs, n_eval_rows)
EvalRoute = Callable[[list[Tree]], np.ndarray]


@dataclass(frozen=True)
class BoostParams:
    n_estimators: int
    tree: TreeParams
    subsample: float
    early_stopping_rounds: int | None
    random_state: int | None
    goss: tuple[float, float] | None = None  # (top_rate, other_rate)
    learning_rate: float = 0.3  # GOSS waits 1/learning_rate rounds, as LightGBM
    guest_only_trees: int = 0  # the first rounds grow on sources[0] (the guest's columns) only


@dataclass
class BoostResult:
    rounds: list[list[Tree]]  # per round, one tree per output
    init_score: np.ndarray
    eval_history: list[float]
    best_iteration: int | None
    tree_seconds: list[float]


def boost(
    sources: Sequence[Source],
    y: np.ndarray,
    objective: Objective,
    params: BoostParams,
    eval_set: tuple[EvalRoute, np.ndarray] | None = None,
    progress: ProgressCallback | None = None,
) -> BoostResult:
    """Boost `params.n_estimators` rounds at most; `progress` is told at the start and after each round (unit
    "tree": rounds, one tree per output), with the validation loss, else the loss on the training rows."""
    n_rows, k = len(y), objective.n_outputs
    init = objective.init_score(y)
    score = np.tile(init, (n_rows, 1))
    seed = params.random_state if params.random_state is not None else secrets.randbits(64)
    rng = np.random.default_rng(seed)
    rounds: list[list[Tree]] = []
    history: list[float] = []
    seconds: list[float] = []
    best, best_round = np.inf, None
    if eval_set is not None:
        eval_route, y_eval = eval_set
        eval_score = np.tile(init, (len(y_eval), 1))
    report(progress, TrainingProgress("tree", 0, params.n_estimators))
    for r in range(params.n_estimators):
        g_all, h_all = objective.grad_hess(y, score)
        sample, g_all, h_all = sample_rows(rng, params, r, g_all, h_all)
        trees = []
        for c in range(k):
            start = time.perf_counter()
            g, h = g_all[:, c], h_all[:, c]
            fg = encoding.frac_bits_for(g[sample], int(sample.sum()))
            fh = encoding.frac_bits_for(h[sample], int(sample.sum()))
            gq, hq = encoding.quantize(g, fg), encoding.quantize(h, fh)
            grown_on = sources[:1] if r < params.guest_only_trees else sources
            tree, leaves = grow_tree(grown_on, gq, hq, (2.0**-fg, 2.0**-fh), sample, params.tree)
            score[:, c] += np.asarray(tree.value)[leaves]
            trees.append(tree)
            seconds.append(time.perf_counter() - start)
            log.info("round %d output %d: %d nodes, depth %d, %.2f s", r, c, len(tree.left), tree.depth, seconds[-1])
        rounds.append(trees)
        if eval_set is not None:
            leaves = eval_route(trees)
            for c, tree in enumerate(trees):
                eval_score[:, c] += np.asarray(tree.value)[leaves[c]]
            history.append(objective.loss(y_eval, eval_score))
        if progress is not None:
            loss = history[-1] if eval_set is not None else objective.loss(y, score)
            progress(TrainingProgress("tree", r + 1, params.n_estimators, loss=float(loss)))
        if eval_set is not None:
            if history[-1] < best:
                best, best_round = history[-1], r
            elif params.early_stopping_rounds is not None and r - best_round >= params.early_stopping_rounds:
                log.info("early stop at round %d: best %d (%.6f)", r, best_round, best)
                rounds = rounds[: best_round + 1]
                break
    if eval_set is not None and params.early_stopping_rounds is not None and best_round is not None:
        rounds = rounds[: best_round + 1]  # as XGBoost predicts with best_iteration
        return BoostResult(rounds, init, history, best_round, seconds)
    return BoostResult(rounds, init, history, None, seconds)


def sample_rows(
    rng: np.random.Generator, params: BoostParams, round_: int, g: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows one round's trees grow on, and (g, h) with GOSS's amplification of the sampled small-gradient rows.

    GOSS (LightGBM): keep the top_rate share of rows with the largest sum over outputs of |g h|,
    draw other_rate of the rows at random from the rest and multiply their g and h by
    (1 - top_rate) / other_rate; like LightGBM it starts after the first 1/learning_rate rounds.
    Otherwise ``subsample``: each row with that probability.
    """
    n_rows = len(g)
    if params.goss is not None and round_ >= int(1.0 / params.learning_rate):
        top_rate, other_rate = params.goss
        n_top = max(1, int(top_rate * n_rows))
        order = np.argsort(-np.abs(g * h).sum(axis=1), kind="stable")
        rest = order[n_top:]
        picked = rng.choice(rest, size=min(int(other_rate * n_rows), len(rest)), replace=False)
        sample = np.zeros(n_rows, dtype=bool)
        sample[order[:n_top]] = True
        sample[picked] = True
        factor = (1.0 - top_rate) / other_rate
        g, h = g.copy(), h.copy()
        g[picked] *= factor
        h[picked] *= factor
        return sample, g, h
    sample = rng.random(n_rows) < params.subsample if params.subsample < 1.0 else np.ones(n_rows, dtype=bool)
    if not sample.any():
        sample[rng.integers(n_rows)] = True
    return sample, g, h
