"""Label inference by a hetero LR host: what it reads off its own gradient sums, per defence setting.

Trains guest and host in memory with the real protocol (hetero_lr.protocol), records at the
host every decrypted gradient sum X_B^T d (through a wrapper on HostSession._batch: exactly
what the host's code sees, noise and dropped columns included), then runs the attacks a host
can mount with that, its own features and its own weights:

- first_batch: the least-squares (min-norm) residual of the first batch from its gradient sum;
  at zero initial weights that residual is 0.5 - y.
- rare_value: rows a batch's gradient isolates (leverage >= 0.5 in the batch's kept columns,
  e.g. a one-hot value in one row), scored by their recovered residual; other rows unscored.
- projection / sign / norm: over all batches, the mean recovered residual of each row, the mean
  of its sign, and the mean of its magnitude (positives, the minority, have larger |d|).

Each attack's AUC is over the rows it scores. ``attack_auc`` is the best attack's AUC counted
only over positive/negative pairs that the best classifier on the host's own columns scores
alike (same one of 20 quantile bins of scikit-learn's logistic regression fitted on the host's
columns with all true labels): label information about the training rows beyond any model of
the host's features, which would score unseen rows as well. Why: a gradient sum is also a
(marginal) regression of the labels on the host's columns, and the host's own weights score
its rows too; neither is a row's label. The plain AUC (``raw_attack_auc``) is reported too,
with ``host_only_auc`` (that classifier's AUC) and ``host_model_auc`` (the host's own weights').
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError

GUEST, HOST = "10000", "20000"
# no defence, each defence alone, and the estimator's defaults (--init-scale, --min-support, --epsilon override)
SETTINGS: dict[str, dict[str, Any]] = {
    "leaky": {"init_scale": 0.0, "min_support": 1, "epsilon": None},
    "init": {"init_scale": 0.5, "min_support": 1, "epsilon": None},
    "support": {"init_scale": 0.0, "min_support": 16, "epsilon": None},
    "noise": {"init_scale": 0.0, "min_support": 1, "epsilon": 12.0},
    "default": {},
    # privacy='strict': the host sees no gradient, only its final weights; "taylor" is the default mode's same training
    "strict": {"privacy": "strict", "residual": "taylor", "slope_every": None, "min_support": 1, "epsilon": None},
    "taylor": {"residual": "taylor", "slope_every": None, "min_support": 1, "epsilon": None},
}
BINS = 20
MIN_CLASS_ROWS = 10  # an attack scoring fewer positives or negatives than this gets no AUC


def load(dataset: str, rows: int | None) -> dict[str, Any]:
    """Train/test guest and host columns (standardized by the train set), labels; ``rows``: a seeded train subset."""
    from bench.hetero_lr import _dataset, _simulation_data

    with tempfile.TemporaryDirectory(prefix="powerfl-attack-") as tmp:
        inputs, info = _dataset(dataset, Path(tmp))
        X, y, n_guest = _simulation_data(inputs, "train")
        T, y_test, _ = _simulation_data(inputs, "test")
    if rows is not None and rows < len(y):
        keep = np.sort(np.random.default_rng(0).choice(len(y), rows, replace=False))
        X, y = X[keep], y[keep]
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    X, T = (X - mean) / std, (T - mean) / std
    return {"X": X, "y": y, "T": T, "y_test": y_test, "n_guest": n_guest, "split": info["split"]}


def federated_run(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Fit guest and host in memory; returns the test AUC, the host's final weights and what the host saw."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
    from airflow_provider_powerfl.algorithms.hetero_lr.host import HostSession
    from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

    g = data["n_guest"]
    train = {GUEST: data["X"][:, :g], HOST: data["X"][:, g:]}
    test = {GUEST: data["T"][:, :g], HOST: data["T"][:, g:]}
    parties = memory_parties(f"attack-{int(time.time())}", {GUEST: "guest", HOST: "host"})
    seen: list[tuple[np.ndarray, np.ndarray, int]] = []
    real = HostSession._batch

    def recording(session: HostSession, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
        grad = real(session, rows, w)
        seen.append((rows.copy(), grad * len(rows), session.plan.min_support))
        return grad

    def fit(pid: str) -> HeteroLogisticRegression:
        own = params if pid == GUEST else {k: v for k, v in params.items() if k not in ("init_scale", "epsilon")}
        return HeteroLogisticRegression(party=parties[pid], **own).fit(train[pid], data["y"] if pid == GUEST else None)

    HostSession._batch = recording  # type: ignore[method-assign]
    try:
        # no deadlock guard beyond the day: strict mode on default_credit takes minutes per epoch
        models = raise_failures(run_parties({pid: (lambda pid=pid: fit(pid)) for pid in train}, timeout=86400.0))
    finally:
        HostSession._batch = real  # type: ignore[method-assign]
    proba = raise_failures(run_parties({pid: (lambda pid=pid: models[pid].predict_proba(test[pid])) for pid in test}))[GUEST]
    return {"auc": float(roc_auc_score(data["y_test"], proba[:, 1])), "host_w": models[HOST].coef_, "seen": seen,
            "n_iter": models[GUEST].n_iter_}  # fmt: skip


def raise_failures(out: dict[str, Any]) -> dict[str, Any]:
    """`run_parties`' results, raising the first party's exception among them."""
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out


def centralized_auc(data: dict[str, Any], alpha: float) -> float:
    """scikit-learn on the joined standardized data with the same L2 strength (C = 1 / (alpha n))."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    model = LogisticRegression(C=1.0 / (alpha * len(data["y"])), max_iter=1000).fit(data["X"], data["y"])
    return float(roc_auc_score(data["y_test"], model.decision_function(data["T"])))


def attack_scores(X_host: np.ndarray, seen: list[tuple[np.ndarray, np.ndarray, int]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per attack: (rows scored, scores); a higher score means "more likely label 1"."""
    from airflow_provider_powerfl.algorithms.hetero_lr.defences import supported_columns

    n = len(X_host)
    total, signs, norms, counts = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    isolated, isolated_count = np.zeros(n), np.zeros(n)
    first: tuple[np.ndarray, np.ndarray] | None = None
    for rows, sums, min_support in seen:
        keep = supported_columns(X_host[rows], min_support)  # the host knows which sums it dropped
        Xb = X_host[rows][:, keep]
        inverse = np.linalg.pinv(Xb.T @ Xb)
        z = Xb @ (inverse @ sums[keep])  # min-norm residual consistent with the sums
        leverage = np.einsum("ij,jk,ik->i", Xb, inverse, Xb)
        if first is None:
            first = (rows, -z)
        total[rows] += z
        signs[rows] += np.sign(z)
        norms[rows] += np.abs(z)
        counts[rows] += 1
        alone = leverage >= 0.5
        isolated[rows[alone]] += z[alone]
        isolated_count[rows[alone]] += 1
    if first is None:
        return {}  # strict mode: no gradient reached the host (evaluate scores its final weights instead)
    everyone = np.flatnonzero(counts)
    hit = np.flatnonzero(isolated_count)
    return {
        "first_batch": first,
        "rare_value": (hit, -isolated[hit] / isolated_count[hit]),
        "projection": (everyone, -total[everyone] / counts[everyone]),
        "sign": (everyone, -signs[everyone] / counts[everyone]),
        "norm": (everyone, norms[everyone] / counts[everyone]),
    }


def conditional_auc(y: np.ndarray, score: np.ndarray, baseline: np.ndarray) -> float | None:
    """AUC over the positive/negative pairs in the same quantile bin of ``baseline`` (pairs-weighted)."""
    from sklearn.metrics import roc_auc_score

    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, baseline, side="right")
    weighted, pairs = 0.0, 0
    for b in np.unique(bins):
        inside = bins == b
        pos = int(y[inside].sum())
        neg = int(inside.sum()) - pos
        if pos and neg:
            weighted += roc_auc_score(y[inside], score[inside]) * pos * neg
            pairs += pos * neg
    return weighted / pairs if pairs else None


def host_only_scores(X_host: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The best population-level model of the labels on the host's columns: logistic regression on all true labels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(X_host, y).decision_function(X_host)


def auc_se(auc: float, pos: int, neg: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC over pos positives and neg negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return math.sqrt((auc * (1 - auc) + (pos - 1) * (q1 - auc * auc) + (neg - 1) * (q2 - auc * auc)) / (pos * neg))


def evaluate(
    y: np.ndarray, X_host: np.ndarray, baseline: np.ndarray, seen: list, host_w: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Each attack's AUCs; without any gradient seen (strict mode) the host's only view, its final weights."""
    from sklearn.metrics import roc_auc_score

    out = {}
    scores = attack_scores(X_host, seen) or {"final_weights": (np.arange(len(y)), X_host @ host_w)}
    for name, (rows, score) in scores.items():
        pos = int(y[rows].sum())
        enough = min(pos, len(rows) - pos) >= MIN_CLASS_ROWS
        auc = conditional_auc(y[rows], score, baseline[rows]) if enough else None
        out[name] = {
            "rows": len(rows),
            "auc": None if auc is None else round(auc, 4),
            "se": None if auc is None else round(auc_se(auc, pos, len(rows) - pos), 4),  # all pairs: a lower bound
            "raw_auc": round(float(roc_auc_score(y[rows], score)), 4) if enough else None,
        }
    return out


def run_attack(dataset: str, setting: str, *, rows: int | None = None, epochs: int = 10, key_length: int = 1024,
               overrides: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One setting on one data set: the attacks' AUCs, federated and centralized test AUC, seconds."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
    from bench.hetero_lr import SETTINGS as TRAINING

    if setting not in SETTINGS:
        raise ConfigError(f"--setting: expected one of {sorted(SETTINGS)}, got {setting!r}")
    batch, optimizer, learning_rate, residual, slope_every = TRAINING[dataset]
    alpha = 1e-3
    defences = {**SETTINGS[setting], **(overrides or {})}
    start = time.perf_counter()
    data = load(dataset, rows)
    batch = min(batch, len(data["y"]) // 4)  # at least 4 batches per epoch on small slices
    params = {"max_iter": epochs, "batch_size": batch, "min_batch_size": min(64, batch), "optimizer": optimizer,
              "learning_rate": learning_rate, "penalty": "l2", "alpha": alpha, "tol": 0.0, "key_length": key_length,
              "residual": residual, "slope_every": slope_every or None, "timeout": None, **defences}  # fmt: skip
    train_start = time.perf_counter()
    fed = federated_run(data, params)
    train_seconds = time.perf_counter() - train_start  # the federated fit alone: strict vs default mode's cost
    fit_seconds = time.perf_counter() - start
    X_host, y = data["X"][:, data["n_guest"] :], data["y"]
    baseline = host_only_scores(X_host, y)
    attacks = evaluate(y, X_host, baseline, fed["seen"], fed["host_w"])
    scored = {name: a for name, a in attacks.items() if a["auc"] is not None}
    best = max(scored, key=lambda name: scored[name]["auc"])
    central = centralized_auc(data, params["alpha"])
    effective = {k: v for k, v in HeteroLogisticRegression(**params).get_params().items()
                 if k in ("init_scale", "min_support", "epsilon", "delta")}  # fmt: skip
    return {
        "bench": "attack",
        "algorithm": "hetero-lr",
        "dataset": dataset,
        "setting": setting,
        "defences": effective,
        "privacy": params.get("privacy", "default"),
        "train_rows": len(y),
        "epochs": fed["n_iter"],
        "batch_size": params["batch_size"],
        "training": {k: params[k] for k in ("optimizer", "learning_rate", "alpha", "residual", "slope_every")},
        "key_length": key_length,
        "attacks": attacks,
        "best_attack": best,
        "attack_auc": scored[best]["auc"],
        "attack_auc_se": scored[best]["se"],
        "raw_attack_auc": max(a["raw_auc"] for a in scored.values()),
        "host_only_auc": round(float(roc_auc_score(y, baseline)), 4),
        "host_model_auc": round(float(roc_auc_score(y, X_host @ fed["host_w"])), 4),
        "federated_auc": round(fed["auc"], 4),
        "centralized_auc": round(central, 4),
        "auc_difference": round(fed["auc"] - central, 4),
        "seconds": round(time.perf_counter() - start, 1),
        "fit_seconds": round(fit_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "note": ("attack_auc: best attack's AUC over its scored rows, counting pairs in the same bin of the best "
                 "host-features-only classifier; key length does not change what the host sees"),
    }  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algorithm", default="hetero-lr", choices=("hetero-lr", "secureboost"))
    # not breast: its host-only classifier scores AUC 0.999, which leaves too few pairs to judge an attack by
    parser.add_argument("--dataset", default="default_credit", choices=("default_credit", "a9a"))
    parser.add_argument("--setting", default="default", help=f"hetero-lr: one of {', '.join(SETTINGS)}")
    parser.add_argument("--rows", type=int, default=None, help="a seeded subset of the training rows (default: all)")
    parser.add_argument("--epochs", type=int, default=10, help="max_iter")
    parser.add_argument("--trees", type=int, default=None, help="secureboost: n_estimators (default: the data set's)")
    parser.add_argument("--key-length", type=int, default=1024,
                        help="Paillier key bits (default 1024: faster; the host's plaintext view is the same at any length)")  # fmt: skip
    parser.add_argument("--init-scale", type=float, default=None, help="override the setting's init_scale")
    parser.add_argument("--min-support", type=int, default=None, help="override the setting's min_support")
    parser.add_argument("--epsilon", type=float, default=None, help="override the setting's epsilon")
    parser.add_argument("--lr-params", type=json.loads, default={},
                        help='JSON of hetero LR parameters over the setting\'s, e.g. \'{"batch_size": 4096}\'')  # fmt: skip
    parser.add_argument("--simulate", action="store_true",
                        help="hetero-lr: bench.attack_sim's numpy training at the estimator's defaults changed by "
                             "--lr-params (and 'average'), instead of the protocol; seconds per run")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="--simulate: the batch order's and the noise's seed")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.algorithm == "secureboost":
        if importlib.util.find_spec("bench.attack_secureboost") is None:
            raise ConfigError("--algorithm secureboost: bench/attack_secureboost.py is not there yet")
        from bench import attack_secureboost

        trees = {} if args.trees is None else {"trees": args.trees}
        return attack_secureboost.run_secureboost_attack(args.dataset, args.setting, key_length=args.key_length, **trees)
    overrides = {name: value for name, value in (("init_scale", args.init_scale), ("min_support", args.min_support),
                                                 ("epsilon", args.epsilon)) if value is not None}  # fmt: skip
    if args.simulate:
        from bench.attack_sim import run_simulated_attack

        result = run_simulated_attack(args.dataset, {**overrides, **args.lr_params}, args.seed)
        print(f"{args.dataset} simulated {result['lr_params']} seed {args.seed}: attack AUC {result['attack_auc']} "
              f"({result['best_attack']}); federated {result['federated_auc']}, centralized {result['centralized_auc']}")  # fmt: skip
        return result
    overrides.update(args.lr_params)
    result = run_attack(args.dataset, args.setting, rows=args.rows, epochs=args.epochs, key_length=args.key_length,
                        overrides=overrides)  # fmt: skip
    for name, a in result["attacks"].items():
        print(f"{name:12s} rows {a['rows']:6d}  AUC beyond host-only model {a['auc']} (se {a['se']})  plain AUC {a['raw_auc']}")
    print(f"{result['dataset']} setting {result['setting']} {result['defences']}: attack AUC {result['attack_auc']} "
          f"({result['best_attack']}), host-only classifier {result['host_only_auc']}; federated {result['federated_auc']}, "
          f"centralized {result['centralized_auc']} ({result['train_rows']} rows, {result['epochs']} epochs, "
          f"{result['key_length']}-bit keys, {result['seconds']} s)")  # fmt: skip
    return result
