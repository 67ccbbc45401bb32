"""Hetero LR end to end: guest and host as separate spark-submit processes through real Kafka.

Runs the Spark steps each party would run (align, train, predict with evaluation)
on one machine, every step of both parties concurrently, and in the same run a
centralized scikit-learn LogisticRegression with the same L2 strength on the
joined data. Reports wall time per step, per-epoch time and both test AUCs.

The launcher (``write_job``, ``run_parties``) is the integration tests' (tests/support/launch.py).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.runtimes.command import CRYPTO_EXECUTOR_CONF
from bench import brokers
from bench.process_tree import TreeCpu
from tests.support.launch import PartyRun, check_ok, run_parties, write_job

DATASETS = Path(os.environ.get("POWERFL_DATASETS", "/work/shared/datasets"))
GUEST, HOST, HOST2 = "10000", "20000", "30000"
BROKERS = {GUEST: "guest", HOST: "host", HOST2: "host2"}
# (batch_size, optimizer, learning_rate, residual, slope_every) per data set, chosen by a numpy simulation of
# the protocol's update (docs/benchmarks/hetero_lr.md): the residual expanded at the guest's score with one slope
# refresh before epoch 9 gets within 0.002 of scikit-learn in 10 epochs, where the Taylor residual cannot
SETTINGS = {
    "a9a": (4096, "sgd", 0.8, "guest_expansion", 8),
    "default_credit": (1024, "sgd", 0.2, "guest_expansion", 8),
    "breast": (128, "adam", 0.15, "guest_expansion", 8),
}


# ------------------------------------------------------------------ data sets
def _dataset(name: str, work: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(inputs per party: {train, test}, info) of a benchmark data set."""
    if name == "breast":
        from airflow_provider_powerfl.datasets.breast import write_breast_split

        split = write_breast_split(work / "data")
        return {
            GUEST: {"train": _csv(split.guest_train, "y"), "test": _csv(split.guest_test, "y")},
            HOST: {"train": _csv(split.host_train), "test": _csv(split.host_test)},
        }, {"split": "datasets.breast.write_breast_split (75/25, 5% ids on one side only)"}
    if name == "a9a":
        root = DATASETS / "a9a"
        guest = {"format": "libsvm", "label_column": "y", "index_base": 1, "num_features": 49}
        host = {"format": "libsvm", "index_base": 0, "num_features": 74}
        return {
            GUEST: {"train": {"uri": str(root / "a9a.guest"), **guest}, "test": {"uri": str(root / "a9a.t.guest"), **guest}},
            HOST: {"train": {"uri": str(root / "a9a.host"), **host}, "test": {"uri": str(root / "a9a.t.host"), **host}},
        }, {"split": "a9a / a9a.t"}
    if name == "default_credit":
        return _split_by_id(work), {"split": "80/20 by id: ids with int(id) % 5 == 0 are the test set"}
    raise ConfigError(f"--dataset: expected a9a|default_credit|breast, got {name!r}")


def split_host(inputs: dict[str, dict[str, Any]], work: Path) -> dict[str, dict[str, Any]]:
    """Three parties: the host's columns split in two halves between HOST and HOST2 (same rows)."""
    out: dict[str, dict[str, Any]] = {GUEST: inputs[GUEST], HOST: {}, HOST2: {}}
    for split, data in inputs[HOST].items():
        lines = Path(data["uri"]).read_text().splitlines()
        parts: dict[str, list[str]] = {HOST: [], HOST2: []}
        if data["format"] == "libsvm":
            half = data["num_features"] // 2
            for line in lines:
                row_id, *cells = line.split()
                pairs = [(int(i) - data["index_base"], v) for i, v in (c.split(":") for c in cells)]
                first = [f"{i + data['index_base']}:{v}" for i, v in pairs if i < half]
                second = [f"{i - half}:{v}" for i, v in pairs if i >= half]
                parts[HOST].append(" ".join([row_id, *first]))
                parts[HOST2].append(" ".join([row_id, *second]))
            sizes = {HOST: {"num_features": half}, HOST2: {"num_features": data["num_features"] - half, "index_base": 0}}
        else:
            rows = [line.split(",") for line in lines]
            half = 1 + (len(rows[0]) - 1) // 2
            parts[HOST] = [",".join(r[:half]) for r in rows]
            parts[HOST2] = [",".join([r[0], *r[half:]]) for r in rows]
            sizes = {HOST: {}, HOST2: {}}
        for pid, content in parts.items():
            path = work / "data" / pid / f"{split}.{data['format']}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(content) + "\n")
            out[pid][split] = {**data, "uri": str(path), **sizes[pid]}
    return out


def _csv(path: Path, label: str | None = None) -> dict[str, Any]:
    return {"uri": str(path), "format": "csv", **({"label_column": label} if label else {})}


def _split_by_id(work: Path) -> dict[str, dict[str, Any]]:
    """default_credit has no test file: ids divisible by 5 (20 %) are held out, at both parties alike."""
    out: dict[str, dict[str, Any]] = {}
    for pid, side in ((GUEST, "guest"), (HOST, "host")):
        lines = (DATASETS / "fate" / f"default_credit_hetero_{side}.csv").read_text().splitlines()
        header, rows = lines[0], lines[1:]
        parts = {"train": [header], "test": [header]}
        for line in rows:
            parts["test" if int(line.split(",", 1)[0]) % 5 == 0 else "train"].append(line)
        out[pid] = {}
        for split, content in parts.items():
            path = work / "data" / side / f"default_credit_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(content) + "\n")
            out[pid][split] = _csv(path, "y" if pid == GUEST else None)
    return out


def _joined(work: Path, hosts: list[str], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centralized view: the aligned rows of all parties side by side (same order), and the labels."""
    import pyarrow.parquet as pq

    guest = pq.read_table(work / GUEST / "align" / "aligned" / name).to_pandas()
    columns = [guest.drop(columns=["id", "label"]).to_numpy()]
    for host in hosts:
        table = pq.read_table(work / host / "align" / "aligned" / name).to_pandas()
        if list(guest["id"]) != list(table["id"]):
            raise PowerFLError(f"aligned {name} rows differ between guest and host {host}")
        columns.append(table.drop(columns=["id"]).to_numpy())
    return np.hstack(columns), (guest["label"].to_numpy() > 0).astype(int)


def _centralized(work: Path, hosts: list[str], alpha: float, max_iter: int) -> float:
    """scikit-learn on the joined aligned data, standardized like the federated steps, same L2 strength."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    X, y = _joined(work, hosts, "train")
    T, y_test = _joined(work, hosts, "test")
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    # our objective: mean loss + alpha/2 ||w||^2  ==  sklearn's C = 1 / (alpha * n)
    model = LogisticRegression(C=1.0 / (alpha * len(y)), max_iter=max(max_iter, 1000))
    model.fit((X - mean) / std, y)
    return float(roc_auc_score(y_test, model.predict_proba((T - mean) / std)[:, 1]))


# ------------------------------------------------------------------ plaintext simulation
def _read_party(data: dict[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(ids, features, labels or None) of one party's bench input, without Spark."""
    lines = Path(data["uri"]).read_text().splitlines()
    label = "label_column" in data
    if data["format"] == "csv":
        rows = [line.split(",") for line in lines[1:]]
        values = np.array([r[1:] for r in rows], dtype=np.float64)
        return [r[0] for r in rows], values[:, 1:] if label else values, values[:, 0] if label else None
    ids, X, y = [], np.zeros((len(lines), data["num_features"])), []
    for row, line in enumerate(lines):
        row_id, *cells = line.split()
        ids.append(row_id)
        if label:
            y.append(float(cells.pop(0)))
        for cell in cells:
            index, value = cell.split(":")
            X[row, int(index) - data["index_base"]] = float(value)
    return ids, X, np.array(y) if label else None


def _simulation_data(inputs: dict[str, dict[str, Any]], split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Guest then host columns of the ids every party holds, sorted by id like the train step; labels; guest columns."""
    parties = [_read_party(inputs[pid][split]) for pid in inputs]
    shared = sorted(set.intersection(*(set(ids) for ids, _, _ in parties)))
    rows = [[position[i] for i in shared] for position in ({v: k for k, v in enumerate(ids)} for ids, _, _ in parties)]
    X = np.hstack([X[r] for r, (_, X, _) in zip(rows, parties, strict=True)])
    return X, (parties[0][2][rows[0]] > 0).astype(np.float64), parties[0][1].shape[1]


def simulate(args: argparse.Namespace, batch: int, optimizer: str, learning_rate: float, residual: str,
             slope_every: int) -> dict[str, Any]:  # fmt: skip
    """The protocol's update in plaintext: its residual and slope refreshes, fixed-point rounding, the local optimizer, L2."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms import fixed_point as fp
    from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan
    from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate

    with tempfile.TemporaryDirectory(prefix="powerfl-sim-") as tmp:
        inputs, _ = _dataset(args.dataset, Path(tmp))
        X, y, n_guest = _simulation_data(inputs, "train")
        T, y_test, _ = _simulation_data(inputs, "test")
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    X, T = np.c_[(X - mean) / std, np.ones(len(X))], np.c_[(T - mean) / std, np.ones(len(T))]
    Xq = np.ldexp(np.rint(np.ldexp(X, fp.X_FRAC_BITS)), -fp.X_FRAC_BITS)  # the exponents' rounding
    penalized = np.r_[np.ones(X.shape[1] - 1), 0.0]
    update = LocalUpdate(optimizer, learning_rate, "l2", args.alpha, penalized)
    plan = BatchPlan(len(y), min(batch, len(y)), args.epochs, 0.0, 0, False, residual, slope_every)
    guest = np.r_[np.arange(n_guest), X.shape[1] - 1]  # the guest's columns and the intercept
    w, slopes = np.zeros(X.shape[1]), np.full(len(y), 0.25)
    for epoch in range(args.epochs):
        if plan.refreshes_slopes(epoch):  # the factors 4 s travel at 2^-WEIGHT_FRAC_BITS
            p = expit(X[:, guest] @ w[guest])
            slopes = np.ldexp(np.rint(np.ldexp(4 * p * (1 - p), fp.WEIGHT_FRAC_BITS)), -fp.WEIGHT_FRAC_BITS - 2)
        for rows in plan.batches(epoch):
            u = X[rows] @ w
            if residual == "taylor":
                d = 0.25 * u + 0.5 - y[rows]
            else:
                u_guest = X[rows][:, guest] @ w[guest]
                d = expit(u_guest) + slopes[rows] * (u - u_guest) - y[rows]
            d = np.ldexp(np.rint(np.ldexp(d, fp.D_FRAC_BITS)), -fp.D_FRAC_BITS)
            w = update.step(w, Xq[rows].T @ d / len(rows))
    # the Taylor objective's exact minimum: 0.25 X^T X w + alpha P w = X^T (y - 0.5)
    n = len(y)
    optimum = np.linalg.solve(0.25 * X.T @ X / n + args.alpha * np.diag(penalized), X.T @ (y - 0.5) / n)
    central = LogisticRegression(C=1.0 / (args.alpha * n), max_iter=1000).fit(X[:, :-1], y)
    auc, best = roc_auc_score(y_test, T @ w), roc_auc_score(y_test, T @ optimum)
    central_auc = roc_auc_score(y_test, central.decision_function(T[:, :-1]))
    print(f"simulated {args.dataset} ({residual}): AUC {auc:.4f} after {args.epochs} epochs, Taylor optimum {best:.4f}, "
          f"scikit-learn {central_auc:.4f}")  # fmt: skip
    return {
        "bench": "hetero_lr_simulation", "dataset": args.dataset, "batch_size": batch, "optimizer": optimizer,
        "learning_rate": learning_rate, "residual": residual, "slope_every": slope_every, "epochs": args.epochs,
        "simulated_auc": round(auc, 4),
        "taylor_optimum_auc": round(best, 4), "centralized_auc": round(central_auc, 4),
        "auc_difference": round(auc - central_auc, 4),
    }  # fmt: skip


# ------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="breast", choices=("a9a", "default_credit", "breast"))
    parser.add_argument("--epochs", type=int, default=10, help="max_iter")
    parser.add_argument("--key-length", type=int, default=2048, help="Paillier key bits of each party")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 4096 (a9a), 1024 (default_credit), 128 (breast)")
    parser.add_argument(
        "--optimizer", choices=("sgd", "adam"), default=None, help="default: sgd (a9a, default_credit), adam (breast)"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="default: 0.8 (a9a), 0.2 (default_credit), 0.15 (breast)"
    )
    parser.add_argument("--residual", choices=("taylor", "guest_expansion"), default=None, help="default: guest_expansion")
    parser.add_argument(
        "--slope-every", type=int, default=None, help="guest_expansion: slope refresh every N epochs (0: never); default 8"
    )
    parser.add_argument("--hosts", type=int, choices=(1, 2), default=1, help="2: the host's columns split between two hosts")
    parser.add_argument("--alpha", type=float, default=1e-3, help="L2 strength (same for scikit-learn)")
    parser.add_argument(
        "--simulate", action="store_true", help="only the plaintext simulation of the update (no crypto, no Spark)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--crypto-executor", choices=("threads", "spark"), default=None,
                        help="where the train step's crypto chunks run (spark.powerfl.cryptoExecutor); default: the product's (threads on local[2])")  # fmt: skip


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The dataset's settings (SETTINGS), each overridden by its flag when given."""
    batch, optimizer, learning_rate, residual, slope_every = SETTINGS[args.dataset]
    return {
        "batch_size": args.batch_size or batch, "optimizer": args.optimizer or optimizer,
        "learning_rate": args.learning_rate or learning_rate, "residual": args.residual or residual,
        "slope_every": slope_every if args.slope_every is None else args.slope_every,
    }  # fmt: skip


def _pipeline(
    args: argparse.Namespace, work: Path, inputs: dict[str, dict[str, Any]], hosts: list[str], settings: dict[str, Any]
) -> tuple[dict[str, dict[str, PartyRun]], dict[str, float], float, float]:
    """Align, train and predict as spark-submitted steps: each step's runs, its seconds, the wall and sampled CPU seconds."""
    parties = [GUEST, *hosts]
    addrs = dict(zip(parties, brokers(*(BROKERS[pid] for pid in parties)), strict=True))
    roles = {GUEST: "guest", **{host: "host" for host in hosts}}
    job = f"bench-hetero-lr-{args.dataset}-{int(time.time())}"
    lr_params = {
        "algorithm": "hetero_lr", "max_iter": args.epochs, "batch_size": settings["batch_size"],
        "optimizer": settings["optimizer"], "learning_rate": settings["learning_rate"], "alpha": args.alpha,
        "penalty": "l2", "tol": 0.0, "key_length": args.key_length, "random_state": 0, "residual": settings["residual"],
        "slope_every": settings["slope_every"] or None,
    }  # fmt: skip
    seconds: dict[str, float] = {}
    runs: dict[str, dict[str, PartyRun]] = {}

    def step(name: str, step_inputs: dict[str, Any], params: dict[str, Any], per_party: Any = None) -> dict[str, PartyRun]:
        specs = write_job(work, job, addrs, roles, step_inputs, name, params, per_party)
        start = time.perf_counter()
        runs[name] = run_parties(name, specs, conf={CRYPTO_EXECUTOR_CONF: args.crypto_executor} if args.crypto_executor else None)
        seconds[name] = round(time.perf_counter() - start, 1)
        check_ok(name, runs[name])
        print(f"{name}: {seconds[name]} s")
        return runs[name]

    with TreeCpu() as cpu:
        total = time.perf_counter()
        aligned = step("align", inputs, {})
        outs = {pid: run.result["outputs"] for pid, run in aligned.items()}
        trained = step("train", {pid: {"train": o["train"]} for pid, o in outs.items()}, lr_params)
        models = {pid: {"model": run.result["model"]} for pid, run in trained.items()}
        step("predict", {pid: {"test": o["test"]} for pid, o in outs.items()}, {}, models)
        wall = time.perf_counter() - total
    return runs, seconds, wall, cpu.seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = _settings(args)
    hosts = [HOST, HOST2][: args.hosts]
    if args.simulate:
        return simulate(args, settings["batch_size"], settings["optimizer"], settings["learning_rate"], settings["residual"],
                        settings["slope_every"])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        inputs, info = _dataset(args.dataset, work)
        if args.hosts == 2:
            inputs = split_host(inputs, work)
        runs, seconds, wall, cpu_seconds = _pipeline(args, work, inputs, hosts, settings)
        central = _centralized(work, hosts, args.alpha, args.epochs)
    align_metrics, train_metrics = runs["align"][GUEST].result["metrics"], runs["train"][GUEST].result["metrics"]
    auc = runs["predict"][GUEST].result["metrics"]["auc"]
    epochs = int(train_metrics["n_iter"])
    per_epoch = train_metrics["fit_seconds"] / epochs
    print(f"{args.dataset}: rows train {align_metrics['train_intersection']}, test {align_metrics['test_intersection']}; "
          f"{len(hosts)} host(s), {args.key_length}-bit keys, batch {settings['batch_size']}, {settings['optimizer']} at "
          f"{settings['learning_rate']}, residual {settings['residual']} (slopes every {settings['slope_every'] or '-'} epochs)")  # fmt: skip
    print(f"wall {wall:.1f} s (align {seconds['align']} s, train {seconds['train']} s, predict+evaluate {seconds['predict']} s)")
    print(f"CPU {cpu_seconds:.0f} s in the parties' processes (sampled every second; brokers not included)")
    print(f"per epoch {per_epoch:.1f} s over {epochs} epochs; loss {train_metrics['loss']:.5f}")
    print(f"federated test AUC {auc:.4f}, centralized {central:.4f}, difference {auc - central:+.4f}")
    return {
        "bench": "hetero_lr",
        "dataset": args.dataset,
        "split": info["split"],
        "key_length": args.key_length,
        "hosts": len(hosts),
        **settings,  # batch_size, optimizer, learning_rate, residual, slope_every
        "epochs": epochs,
        "wall_seconds": round(wall, 1),
        "cpu_seconds_sampled": round(cpu_seconds, 1),
        "step_seconds": seconds,
        "fit_seconds": round(train_metrics["fit_seconds"], 1),
        "epoch_seconds": round(per_epoch, 2),
        "federated_auc": round(auc, 4),
        "centralized_auc": round(central, 4),
        "auc_difference": round(auc - central, 4),
    }
