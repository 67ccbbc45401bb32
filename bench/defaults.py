"""Defaults on data nobody tuned them for: every algorithm at its default settings, federated against central.

On the synthetic generator's sets (airflow_provider_powerfl/datasets/synthetic.py: string ids, several seeds,
shapes, overlaps and sparsities; ``CASES``) each party's file is read, the rows both hold are joined by id
(what the align step's PSI yields) and split 80/20 by a hash of the id. Then, per case:

- hetero LR: ``HeteroLogisticRegression`` at its defaults (10 epochs of Adam 0.05, batches of 1024, L2 0.01,
  the Taylor residual, label noise epsilon 16), the real protocol over ``memory_parties`` (same messages,
  codec and checks as over Kafka) with Paillier keys of ``--key-length`` bits (the fixed-point arithmetic does
  not depend on the key length); against scikit-learn's LogisticRegression with the same L2 strength on the
  joined columns (``C = 1 / (alpha n)``, as ``powerfl bench hetero-lr``);
- hetero NN: ``HeteroNN`` at its defaults (default defence: clip 1, epsilon 16) in its plaintext mode, the
  same training as the encrypted mode without Paillier (docs/protocols/hetero_nn.md); against the same network
  trained centrally (``hetero_nn.central``, same seeds and batches, no defence);
- SecureBoost: its defaults (100 trees, depth 6, 256 bins, learning rate 0.3). The federated model is
  bit-for-bit the plaintext ``GradientBoostedTrees`` on the joined columns (the lossless tests in
  tests/unit/algorithms/test_secureboost.py), so the plaintext one stands for it; against XGBoost's ``hist``
  trees with the same settings, an independent implementation of the same model.

Every party standardizes its own columns with its training rows' mean and deviation (what a per-column
scaler at each party gives). Reports the test AUC of each and their difference per case and algorithm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.attack import centralized_auc, raise_failures

GUEST, HOST = "10000", "20000"
GOALS = {"hetero_lr": 0.005, "hetero_lr_sim": 0.005, "hetero_nn": 0.005, "secureboost": 0.01}
# (rows per party, guest features, host features, overlap, sparsity, seed)
CASES = [
    (15_000, 10, 20, 0.8, 0.0, 1),
    (15_000, 10, 20, 0.8, 0.0, 2),
    (15_000, 10, 20, 0.8, 0.0, 3),
    (24_000, 5, 50, 0.5, 0.5, 4),
    (12_000, 30, 10, 1.0, 0.9, 5),
    (15_000, 2, 40, 0.8, 0.3, 6),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algorithms", default="hetero_lr,hetero_nn,secureboost", help="comma-separated subset")
    parser.add_argument("--cases", default=None, help="comma-separated case numbers (1-based) of CASES; default all")
    parser.add_argument("--key-length", type=int, default=1024, help="hetero LR's Paillier key bits (default 1024)")
    parser.add_argument("--lr-params", type=json.loads, default={},
                        help='JSON of hetero LR parameters to change from the defaults, e.g. \'{"optimizer": "sgd"}\'')  # fmt: skip
    parser.add_argument("--json", action="store_true", help="accepted for symmetry: the last line is always JSON")


def is_test_row(ids: np.ndarray) -> np.ndarray:
    """Whether each id is a test row: a fifth of the ids, by a hash of the id (the same at every party)."""
    return np.array([hashlib.blake2b(str(i).encode(), digest_size=2).digest()[0] % 5 == 0 for i in ids])


def joined_split(work: Path, case: tuple) -> dict[str, Any]:
    """The case's guest and host columns of the shared ids, standardized per party, split into train and test."""
    import pyarrow.parquet as pq

    from airflow_provider_powerfl.datasets.synthetic import SyntheticSpec, write_synthetic

    rows, n_guest, n_host, overlap, sparsity, seed = case
    split = write_synthetic(work, SyntheticSpec(rows, n_guest, n_host, overlap, sparsity, seed), "parquet")
    guest, host = pq.read_table(split.guest).to_pandas(), pq.read_table(split.host).to_pandas()
    joined = guest.merge(host, on="id").sort_values("id")  # the aligned rows, in id order as the train step sorts them
    test = is_test_row(joined["id"].to_numpy())
    out: dict[str, Any] = {"y": joined["y"].to_numpy()[~test].astype(float), "y_test": joined["y"].to_numpy()[test].astype(float)}
    for pid, columns in ((GUEST, [f"x{j}" for j in range(n_guest)]), (HOST, [f"x{n_guest + j}" for j in range(n_host)])):
        X = joined[columns].to_numpy()
        mean, std = X[~test].mean(axis=0), X[~test].std(axis=0)
        std[std == 0] = 1.0
        out[pid], out[f"{pid}_test"] = (X[~test] - mean) / std, (X[test] - mean) / std
    return out


def _central_lr(data: dict[str, Any], alpha: float) -> float:
    """Test AUC of scikit-learn's logistic regression on the joined columns with the same L2 strength."""
    joined = {"X": np.hstack([data[GUEST], data[HOST]]), "T": np.hstack([data[f"{GUEST}_test"], data[f"{HOST}_test"]])}
    return centralized_auc({**joined, "y": data["y"], "y_test": data["y_test"]}, alpha)


def hetero_lr_sim(data: dict[str, Any], seed: int, changes: dict[str, Any]) -> tuple[float, float]:
    """(simulated, central) test AUC: the protocol's update in numpy (bench.attack_sim.train, which the federated
    run equals up to fixed point without noise), with the label noise of ``epsilon`` on the residual the host's
    gradient sees."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
    from bench.attack_sim import train

    wg, wh, _ = train(data[GUEST], data[HOST], data["y"], changes, seed)
    score = data[f"{GUEST}_test"] @ wg[:-1] + wg[-1] + data[f"{HOST}_test"] @ wh
    return float(roc_auc_score(data["y_test"], score)), _central_lr(data, HeteroLRParams(**changes).alpha)


def hetero_lr(data: dict[str, Any], seed: int, key_length: int, changes: dict[str, Any]) -> tuple[float, float]:
    """(federated, central) test AUC of hetero LR at its defaults."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
    from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
    from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

    parties = memory_parties(f"bench-defaults-lr-{seed}-{int(time.time())}", {GUEST: "guest", HOST: "host"})
    models = raise_failures(run_parties({
        pid: (lambda pid=pid: HeteroLogisticRegression(party=parties[pid], key_length=key_length, random_state=seed, **changes)
              .fit(data[pid], data["y"] if pid == GUEST else None))
        for pid in (GUEST, HOST)}, timeout=86400.0))  # fmt: skip
    score = data[f"{GUEST}_test"] @ models[GUEST].coef_ + models[GUEST].intercept_ + data[f"{HOST}_test"] @ models[HOST].coef_
    return float(roc_auc_score(data["y_test"], score)), _central_lr(data, HeteroLRParams(**changes).alpha)


def hetero_nn(data: dict[str, Any], seed: int) -> tuple[float, float]:
    """(federated, central) test AUC of hetero NN at its defaults (plaintext mode, default defence)."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_nn import HeteroNN
    from airflow_provider_powerfl.algorithms.hetero_nn.central import fit_predict_central
    from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

    parties = memory_parties(f"bench-defaults-nn-{seed}-{int(time.time())}", {GUEST: "guest", HOST: "host"})
    models = {pid: HeteroNN(party=parties[pid], mode="plaintext", random_state=seed, timeout=None) for pid in (GUEST, HOST)}
    raise_failures(run_parties({pid: (lambda pid=pid: models[pid].fit(data[pid], data["y"] if pid == GUEST else None))
                        for pid in models}, timeout=86400.0))  # fmt: skip
    tests = {pid: data[f"{pid}_test"] for pid in (GUEST, HOST)}
    scores = raise_failures(
        run_parties({pid: (lambda pid=pid: models[pid].predict_proba(tests[pid])) for pid in models}, timeout=3600.0)
    )
    central = fit_predict_central({GUEST: data[GUEST], HOST: data[HOST]}, GUEST, data["y"], tests, random_state=seed)
    return float(roc_auc_score(data["y_test"], scores[GUEST][:, 1])), float(roc_auc_score(data["y_test"], central))


def secureboost(data: dict[str, Any], seed: int) -> tuple[float, float]:
    """(federated = plaintext GBDT on the joined columns, XGBoost hist) test AUC at SecureBoost's defaults."""
    from sklearn.metrics import roc_auc_score
    from xgboost import XGBClassifier

    from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees
    from airflow_provider_powerfl.algorithms.secureboost.params import BoostingParams

    X, T = np.hstack([data[GUEST], data[HOST]]), np.hstack([data[f"{GUEST}_test"], data[f"{HOST}_test"]])
    ours = GradientBoostedTrees(random_state=seed).fit(X, data["y"])
    d = BoostingParams()
    xgb = XGBClassifier(n_estimators=d.n_estimators, max_depth=d.max_depth, learning_rate=d.learning_rate, max_bin=d.max_bin,
                        min_child_weight=d.min_child_weight, reg_lambda=d.reg_lambda, gamma=d.gamma, tree_method="hist",
                        n_jobs=1, random_state=seed).fit(X, data["y"])  # fmt: skip
    return float(roc_auc_score(data["y_test"], ours.decision_function(T))), float(
        roc_auc_score(data["y_test"], xgb.predict_proba(T)[:, 1])
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    algorithms = [a.strip() for a in args.algorithms.split(",")]
    chosen = [int(c) for c in args.cases.split(",")] if args.cases else range(1, len(CASES) + 1)
    entries = []
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-defaults-") as tmp:
        for number in chosen:
            case = CASES[number - 1]
            data = joined_split(Path(tmp) / str(number), case)
            seed = case[-1]
            shape = dict(zip(("rows", "guest_features", "host_features", "overlap", "sparsity", "seed"), case, strict=True))
            for name in algorithms:
                start, cpu = time.perf_counter(), time.process_time()
                fed, central = (hetero_lr(data, seed, args.key_length, args.lr_params) if name == "hetero_lr" else
                                hetero_lr_sim(data, seed, args.lr_params) if name == "hetero_lr_sim" else
                                hetero_nn(data, seed) if name == "hetero_nn" else secureboost(data, seed))  # fmt: skip
                entry = {"case": number, **shape, "train_rows": len(data["y"]), "test_rows": len(data["y_test"]),
                         "algorithm": name, "federated_auc": round(fed, 4), "central_auc": round(central, 4),
                         "auc_difference": round(fed - central, 4), "within_goal": abs(fed - central) <= GOALS[name],
                         "seconds": round(time.perf_counter() - start, 1), "cpu_s": round(time.process_time() - cpu, 1)}  # fmt: skip
                print(f"case {number} {shape} {name}: federated {entry['federated_auc']} central {entry['central_auc']} "
                      f"diff {entry['auc_difference']:+.4f} ({'within' if entry['within_goal'] else 'OUTSIDE'} "
                      f"{GOALS[name]}), {entry['seconds']} s", flush=True)  # fmt: skip
                entries.append(entry)
    worst = {
        name: max((abs(e["auc_difference"]) for e in entries if e["algorithm"] == name), default=None) for name in algorithms
    }
    return {"bench": "defaults", "key_length": args.key_length, "lr_params": args.lr_params, "goals": GOALS, "worst_abs_difference": worst,
            "all_within_goal": all(e["within_goal"] for e in entries), "entries": entries}  # fmt: skip
