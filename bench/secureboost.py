"""SecureBoost end to end: guest and host as spark-submit processes through real Kafka, XGBoost beside them.

Each party's own columns are written as its aligned CSV inputs (train and test); the train
step and then the predict step (joint prediction and evaluation of the test rows) run for
both parties at once, as the operators would run them (the integration tests' launcher,
tests/support/launch.py). In the same run XGBoost (tree_method="hist") trains with the same trees, depth, learning rate,
max_bin and lambda on the joined data, and the library's plaintext GBDT checks that the
federated test predictions are the centralized ones. Reports wall time, time per tree and
the test metrics (AUC, or accuracy for vehicle_scale).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from bench import allow_small_keys, brokers
from tests.support.launch import check_ok, run_parties, write_job

DATASETS = Path(os.environ.get("POWERFL_DATASETS", "/work/shared/datasets"))
GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
# FATE's benchmark_quality/hetero_sbt/sbt_default_credit_config.yaml: 30 trees, depth 3, 32 bins, 1024-bit Paillier
DEFAULTS = {
    "a9a": {"trees": 40, "depth": 6, "bins": 32, "key_length": 2048},
    "default_credit": {"trees": 30, "depth": 3, "bins": 32, "key_length": 1024},
    "vehicle_scale": {"trees": 10, "depth": 3, "bins": 32, "key_length": 2048},
    "breast": {"trees": 5, "depth": 3, "bins": 32, "key_length": 2048},
}


# ------------------------------------------------------------------ data sets
def load_dataset(name: str) -> dict[str, np.ndarray]:
    """Guest columns + labels and host columns with their ids, train and test, rows aligned by id."""
    if name == "a9a":
        root = DATASETS / "a9a"
        gx, y, gid = _libsvm(root / "a9a.guest", 49, 1, labelled=True)
        hx, _, hid = _libsvm(root / "a9a.host", 74, 0, labelled=False)
        gt, yt, gtid = _libsvm(root / "a9a.t.guest", 49, 1, labelled=True)
        ht, _, htid = _libsvm(root / "a9a.t.host", 74, 0, labelled=False)
        if not (np.array_equal(gid, hid) and np.array_equal(gtid, htid)):
            raise PowerFLError("a9a guest and host files list different ids")
        return {"ids": gid, "guest": gx, "host": hx, "y": (y > 0).astype(np.float64),
                "ids_test": gtid, "guest_test": gt, "host_test": ht, "y_test": (yt > 0).astype(np.float64)}  # fmt: skip
    if name in ("default_credit", "vehicle_scale", "breast"):
        g = np.genfromtxt(DATASETS / "fate" / f"{name}_hetero_guest.csv", delimiter=",", skip_header=1)
        h = np.genfromtxt(DATASETS / "fate" / f"{name}_hetero_host.csv", delimiter=",", skip_header=1)
        if not np.array_equal(g[:, 0], h[:, 0]):
            raise PowerFLError(f"{name} guest and host files list different ids")
        ids = g[:, 0].astype(np.int64)
        test = ids % 5 == 0  # 20 % held out by id, at both parties alike
        return {"ids": ids[~test], "guest": g[~test, 2:], "host": h[~test, 1:], "y": g[~test, 1],
                "ids_test": ids[test], "guest_test": g[test, 2:], "host_test": h[test, 1:], "y_test": g[test, 1]}  # fmt: skip
    raise ConfigError(f"--dataset: expected {'|'.join(DEFAULTS)}, got {name!r}")


def _libsvm(path: Path, n_features: int, base: int, *, labelled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lines = path.read_text().splitlines()
    X = np.zeros((len(lines), n_features))
    y = np.zeros(len(lines))
    ids = np.zeros(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        parts = line.split()
        ids[i] = int(parts[0].lstrip("@"))
        rest = parts[1:]
        if labelled:
            y[i], rest = float(rest[0]), rest[1:]
        for item in rest:
            j, v = item.split(":")
            X[i, int(j) - base] = float(v)
    return X, y, ids


def write_inputs(d: dict[str, np.ndarray], root: Path) -> dict[str, dict[str, Any]]:
    """Each party's train and test rows as CSV inputs of the Spark steps (``id[,y],<own columns>``)."""
    inputs: dict[str, dict[str, Any]] = {GUEST: {}, HOST: {}}
    for pid, side in ((GUEST, "guest"), (HOST, "host")):
        for split, suffix in (("train", ""), ("test", "_test")):
            X, ids = d[side + suffix], d["ids" + suffix]
            columns = [ids[:, None], *([d["y" + suffix][:, None]] if side == "guest" else []), X]
            header = ["id", *(["y"] if side == "guest" else []), *(f"x{j}" for j in range(X.shape[1]))]
            path = root / side / f"{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savetxt(path, np.hstack(columns), delimiter=",", header=",".join(header), comments="", fmt="%.17g")
            inputs[pid][split] = {"uri": str(path), "format": "csv", **({"label_column": "y"} if side == "guest" else {})}
    return inputs


def _metric(y: np.ndarray, scores: np.ndarray, multiclass: bool) -> tuple[str, float]:
    from sklearn.metrics import roc_auc_score

    if multiclass:
        return "accuracy", float(np.mean(scores.argmax(axis=1) == y))
    return "auc", float(roc_auc_score(y, scores))


# ------------------------------------------------------------------ centralized references
def _xgboost(d: dict[str, np.ndarray], params: dict[str, Any], multiclass: bool) -> tuple[float, float]:
    """XGBoost hist on the joined columns: (test metric, fit seconds)."""
    import xgboost

    X, T = np.hstack([d["guest"], d["host"]]), np.hstack([d["guest_test"], d["host_test"]])
    model = xgboost.XGBClassifier(n_estimators=params["n_estimators"], max_depth=params["max_depth"], learning_rate=params["learning_rate"],
                                  max_bin=params["max_bin"], reg_lambda=params["reg_lambda"], tree_method="hist", n_jobs=1)  # fmt: skip
    start = time.perf_counter()
    model.fit(X, d["y"].astype(np.int64))
    seconds = time.perf_counter() - start
    proba = model.predict_proba(T)
    return _metric(d["y_test"], proba if multiclass else proba[:, 1], multiclass)[1], seconds


def _plaintext_difference(d: dict[str, np.ndarray], params: dict[str, Any], predictions: Path) -> float:
    """Largest |federated - plaintext GBDT| over the test predictions (the same trees: 0 up to float rounding)."""
    from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees

    names = ("n_estimators", "max_depth", "learning_rate", "max_bin", "reg_lambda", "random_state")
    plain = GradientBoostedTrees(objective=params["objective"], **{k: params[k] for k in names})
    plain.fit(np.hstack([d["guest"], d["host"]]), d["y"])
    expected = plain.predict_proba(np.hstack([d["guest_test"], d["host_test"]]))
    rows = np.genfromtxt(predictions, delimiter=",", names=True, encoding="utf-8")
    order = {int(i): k for k, i in enumerate(d["ids_test"])}
    at = np.array([order[int(i)] for i in rows["id"]])
    if expected.shape[1] == 2:
        return float(np.max(np.abs(rows["probability"] - expected[at, 1])))
    got = np.column_stack([rows[f"probability_{k}"] for k in range(expected.shape[1])])
    return float(np.max(np.abs(got - expected[at])))


# ------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="default_credit", choices=tuple(DEFAULTS))
    parser.add_argument(
        "--trees", type=int, default=None, help="n_estimators (default per data set; FATE's 30 for default_credit)"
    )
    parser.add_argument("--depth", type=int, default=None, help="max_depth")
    parser.add_argument("--bins", type=int, default=None, help="max_bin")
    parser.add_argument("--learning-rate", type=float, default=0.3)
    parser.add_argument("--reg-lambda", type=float, default=1.0)
    parser.add_argument(
        "--key-length",
        type=int,
        default=None,
        help="guest's Paillier key bits (default: FATE's 1024 for default_credit, else 2048)",
    )
    parser.add_argument(
        "--guest-only-trees",
        type=int,
        default=0,
        help="first trees on the guest's columns only (above 0 the federated model is no longer the plaintext GBDT)",
    )
    parser.add_argument(
        "--hide-instance-space",
        choices=("on", "off"),
        default="on",
        help="on: the default since issue 18 (hosts see no partitions); off: partitions shown, as the figures in "
        "docs/benchmarks/secureboost.md before 2026-12-08 were measured",
    )
    parser.add_argument("--master", default="local[2]", help="Spark master of each party's spark-submit")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")


def _train_params(args: argparse.Namespace, multiclass: bool) -> dict[str, Any]:
    """The train step's parameters: the command line's, else the data set's defaults."""
    defaults = DEFAULTS[args.dataset]
    key_length = args.key_length or defaults["key_length"]
    allow_small_keys(key_length, "secureboost")
    return {
        "algorithm": "secureboost", "objective": "multi:softprob" if multiclass else "binary:logistic",
        "n_estimators": args.trees or defaults["trees"], "max_depth": args.depth or defaults["depth"],
        "max_bin": args.bins or defaults["bins"], "learning_rate": args.learning_rate, "reg_lambda": args.reg_lambda,
        "key_length": key_length, "random_state": 0, "timeout": 3600, "guest_only_trees": args.guest_only_trees,
        "hide_instance_space": args.hide_instance_space == "on",
    }  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    multiclass = args.dataset == "vehicle_scale"
    params = _train_params(args, multiclass)
    key_length = params["key_length"]
    d = load_dataset(args.dataset)
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-sbt-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        inputs = write_inputs(d, work / "data")
        addrs = dict(zip((GUEST, HOST), brokers("guest", "host"), strict=True))
        job = f"bench-secureboost-{args.dataset}-{int(time.time())}"
        print(f"{args.dataset}: train {len(d['y'])} rows (guest {d['guest'].shape[1]} + host {d['host'].shape[1]} features), "
              f"test {len(d['y_test'])}; {params['n_estimators']} trees, depth {params['max_depth']}, {params['max_bin']} bins, "
              f"{key_length}-bit Paillier; two spark-submit --master {args.master} through Kafka {addrs[GUEST]} / {addrs[HOST]}",
              flush=True)  # fmt: skip
        seconds: dict[str, float] = {}

        def step(name: str, split: str, step_params: dict[str, Any], per_party: Any = None) -> dict[str, Any]:
            specs = write_job(
                work, job, addrs, ROLES, {pid: {split: i[split]} for pid, i in inputs.items()}, name, step_params, per_party
            )
            start = time.perf_counter()
            runs = run_parties(name, specs, timeout=24 * 3600, master=args.master)
            seconds[name] = round(time.perf_counter() - start, 1)
            check_ok(name, runs)
            print(f"{name}: {seconds[name]} s", flush=True)
            return {pid: r.result for pid, r in runs.items()}

        trained = step("train", "train", params)
        models = {pid: {"model": result["model"]} for pid, result in trained.items()}
        predicted = step("predict", "test", {"timeout": 3600}, models)
        boosting = json.loads((work / GUEST / "train" / "boosting.json").read_text())
        difference = _plaintext_difference(d, params, work / GUEST / "predict" / "predictions.csv")
    load = os.getloadavg()
    train, test = trained[GUEST]["metrics"], predicted[GUEST]["metrics"]
    metric = "accuracy" if multiclass else "auc"
    x_value, x_seconds = _xgboost(d, params, multiclass)
    fed_value, trees = float(test[metric]), int(train["trees"])
    wall = seconds["train"] + seconds["predict"]
    tree_seconds = boosting["tree_seconds"]
    print(
        f"wall {wall:.1f} s (train step {seconds['train']} s with fit {train['fit_seconds']:.1f} s; predict+evaluate step {seconds['predict']} s)"
    )
    print(
        f"{train['seconds_per_tree']:.2f} s per tree over {trees} trees (fastest {min(tree_seconds):.2f}, slowest {max(tree_seconds):.2f})"
    )
    print(f"federated test {metric} {fed_value:.4f}, XGBoost hist {x_value:.4f} ({x_seconds:.1f} s), difference {fed_value - x_value:+.4f}; "
          f"max |federated - plaintext GBDT| {difference:.1e}")  # fmt: skip
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return {
        "bench": "secureboost", "dataset": args.dataset, "rows_train": int(len(d["y"])), "rows_test": int(len(d["y_test"])),
        "trees": trees, "depth": params["max_depth"], "bins": params["max_bin"], "learning_rate": params["learning_rate"],
        "key_length": key_length, "hide_instance_space": params["hide_instance_space"], "master": args.master, "wall_seconds": round(wall, 1), "step_seconds": seconds,
        "fit_seconds": round(train["fit_seconds"], 1), "seconds_per_tree": round(train["seconds_per_tree"], 2),
        "metric": metric, "federated": round(fed_value, 4), "xgboost": round(x_value, 4),
        "difference": round(fed_value - x_value, 4), "max_plaintext_difference": difference,
        "load_average": [round(v, 1) for v in load],
    }  # fmt: skip
