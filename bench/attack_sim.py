"""Hetero LR's training and the host's view simulated in numpy: candidate defaults tried in seconds.

The protocol computes exactly this update (tests/unit/algorithms/test_hetero_lr.py shows the federated
gradients equal the plaintext ones) up to its fixed point; the label noise is drawn from a seeded
generator instead of the OS CSPRNG. What the host records per batch, X_B^T (d + eta) over the columns
``min_support`` keeps, is what HostSession._batch decrypts, so bench.attack's attacks run on it unchanged.

``average`` as the estimator's (hetero_lr.protocol.TailAverage): each party's mean weights over the steps of
the last ``average`` fraction of the epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def train(XG: np.ndarray, XH: np.ndarray, y: np.ndarray, changes: dict[str, Any], seed: int,
          record: bool = False) -> tuple[np.ndarray, np.ndarray, list]:  # fmt: skip
    """(guest weights with intercept last, host weights, the host's recorded sums) after ``max_iter`` epochs."""
    from airflow_provider_powerfl.algorithms.hetero_lr.defences import noise_scale, supported_columns
    from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams, mode_average, mode_residual
    from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan
    from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate

    p = HeteroLRParams(**changes)
    if p.class_weight is not None or p.privacy != "default":
        raise ValueError("the simulation covers the default mode without class weights")
    XG1 = np.c_[XG, np.ones(len(y))]
    update_g = LocalUpdate(p.optimizer, p.learning_rate, p.penalty, p.alpha, np.r_[np.ones(XG.shape[1]), 0.0])
    update_h = LocalUpdate(p.optimizer, p.learning_rate, p.penalty, p.alpha, np.ones(XH.shape[1]))
    wg, wh = np.zeros(XG1.shape[1]), np.zeros(XH.shape[1])
    sigma = 0.0 if p.epsilon is None else noise_scale(p.epsilon, p.delta, p.max_iter)
    residual, average = mode_residual(p.privacy, p.residual), mode_average(p.privacy, p.average)
    plan = BatchPlan(len(y), min(p.batch_size, len(y)), p.max_iter, 0.0, seed, False, residual, int(p.slope_every or 0))
    rng = np.random.default_rng([seed, 1])
    slopes = np.full(len(y), 0.25)  # guest_expansion: 0.25 until the first refresh
    sums_g, sums_h, averaged = np.zeros_like(wg), np.zeros_like(wh), 0
    first_averaged = p.max_iter - round(average * p.max_iter)
    seen = []
    for epoch in range(p.max_iter):
        if plan.refreshes_slopes(epoch):
            s = 1.0 / (1.0 + np.exp(-(XG1 @ wg)))
            slopes = s * (1.0 - s)
        for rows in plan.batches(epoch):
            u_g, u_h = XG1[rows] @ wg, XH[rows] @ wh
            if residual == "taylor":
                d = 0.25 * (u_g + u_h) + 0.5 - y[rows]
            else:
                d = 1.0 / (1.0 + np.exp(-u_g)) - y[rows] + slopes[rows] * u_h
            keep = supported_columns(XH[rows], p.min_support)
            host_sums = (XH[rows] * keep).T @ (d + sigma * rng.standard_normal(len(rows)))
            if record:
                seen.append((rows, host_sums, p.min_support))
            wg = update_g.step(wg, XG1[rows].T @ d / len(rows))
            wh = update_h.step(wh, host_sums / len(rows))
            if epoch >= first_averaged:
                sums_g, sums_h, averaged = sums_g + wg, sums_h + wh, averaged + 1
    if averaged:
        wg, wh = sums_g / averaged, sums_h / averaged
    return wg, wh, seen


def run_simulated_attack(dataset: str, changes: dict[str, Any], seed: int) -> dict[str, Any]:
    """bench.attack's figures for one simulated run: attack AUC beyond host features, federated and central AUC."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
    from bench.attack import centralized_auc, evaluate, host_only_scores, load

    data = load(dataset, None)
    g = data["n_guest"]
    XH, y = data["X"][:, g:], data["y"]
    wg, wh, seen = train(data["X"][:, :g], XH, y, changes, seed, record=True)
    federated = float(roc_auc_score(data["y_test"], data["T"][:, :g] @ wg[:-1] + wg[-1] + data["T"][:, g:] @ wh))
    central = centralized_auc(data, HeteroLRParams(**changes).alpha)
    attacks = evaluate(y, XH, host_only_scores(XH, y), seen, wh)
    scored = {name: a for name, a in attacks.items() if a["auc"] is not None}
    best = max(scored, key=lambda name: scored[name]["auc"])
    return {"bench": "attack", "algorithm": "hetero-lr", "simulated": True, "dataset": dataset, "lr_params": changes,
            "seed": seed, "train_rows": len(y), "attacks": attacks, "best_attack": best, "attack_auc": scored[best]["auc"],
            "federated_auc": round(federated, 4), "centralized_auc": round(central, 4),
            "auc_difference": round(federated - central, 4)}  # fmt: skip
