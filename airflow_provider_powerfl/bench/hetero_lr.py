"""Hetero LR end to end: guest and host as separate spark-submit processes through real Kafka.

Runs the Spark steps each party would run (align, train, predict with evaluation)
on one machine, every step of both parties concurrently, and in the same run a
centralized scikit-learn LogisticRegression with the same L2 strength on the
joined data. Reports wall time per step, per-epoch time and both test AUCs.

The launcher (``write_job``, ``run_parties``) is shared with the integration tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.taskspec import step_error_in

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("POWERFL_DATASETS", "/work/shared/datasets"))
GUEST, HOST = "10000", "20000"
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
}


# ------------------------------------------------------------------ launcher
@dataclass(frozen=True)
class PartyRun:
    """One party's finished step: exit code, log and its result.json (if written)."""

    party_id: str
    returncode: int
    log: str
    result: dict[str, Any] | None
    seconds: float

    @property
    def error(self) -> str | None:
        return step_error_in(self.log)


def write_job(
    work: Path, job_id: str, brokers: dict[str, str], roles: dict[str, str],
    inputs: dict[str, dict[str, Any]], step: str, params: dict[str, Any] | None = None,
    party_params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write each party's task spec of one step; keys are made once per ``work`` dir. Returns spec paths.

    ``brokers``, ``inputs`` and ``party_params`` are keyed by party id; ``params`` are every party's.
    """
    keys = work / "keys"
    for pid in roles:
        if not (keys / f"{pid}.key").exists():
            generate_party_keys(keys, pid)
    parties = [
        {"id": pid, "role": role, "bootstrap_servers": brokers[pid], "public_key": str(keys / f"{pid}.pub")}
        for pid, role in roles.items()
    ]
    specs = {}
    for pid in roles:
        own = {**(params or {}), **(party_params or {}).get(pid, {})}
        spec = {
            "job_id": job_id,
            "attempt": 1,
            "party_id": pid,
            "private_key": str(keys / f"{pid}.key"),
            "parties": parties,
            "inputs": inputs.get(pid, {}),
            "outputs": {"dir": str(work / pid / step)},
            "params": own,
        }
        path = work / "specs" / f"{step}-{pid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=2))
        specs[pid] = path
    return specs


def spark_submit_command(step: str, spec: Path, master: str = "local[2]") -> list[str]:
    venv_bin = Path(sys.executable).parent
    cmd = [str(venv_bin / "spark-submit"), "--master", master, "--driver-memory", "1g"]
    for key, value in SPARK_CONF.items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + [str(REPO / "spark_jobs" / f"{step}.py"), "--spec", str(spec)]


def run_parties(step: str, specs: dict[str, Path], timeout: float = 1800, master: str = "local[2]") -> dict[str, PartyRun]:
    """spark-submit ``step`` for every party at once; wait for all of them."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}", "PYSPARK_PYTHON": sys.executable}
    procs = {}
    start = time.perf_counter()
    for pid, spec in specs.items():
        log = open(spec.with_suffix(".log"), "w+")  # noqa: SIM115 - closed below
        procs[pid] = (subprocess.Popen(spark_submit_command(step, spec, master), cwd=spec.parent, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, text=True), log)  # fmt: skip
    runs = {}
    for pid, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        text = log.read()
        log.close()
        spec = json.loads(specs[pid].read_text())
        result_file = Path(spec["outputs"]["dir"]) / "result.json"
        result = json.loads(result_file.read_text()) if code == 0 and result_file.exists() else None
        runs[pid] = PartyRun(pid, code, text, result, seconds)
    return runs


def check_ok(step: str, runs: dict[str, PartyRun]) -> None:
    for run in runs.values():
        if run.returncode != 0:
            raise PowerFLError(f"step {step} failed at party {run.party_id} (exit {run.returncode}): {run.error or run.log[-2000:]}")


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


def _joined(work: Path, step_dir: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centralized view: the aligned rows of both parties side by side (same order), and the labels."""
    import pyarrow.parquet as pq

    guest = pq.read_table(work / GUEST / step_dir / "aligned" / name).to_pandas()
    host = pq.read_table(work / HOST / step_dir / "aligned" / name).to_pandas()
    if list(guest["id"]) != list(host["id"]):
        raise PowerFLError(f"aligned {name} rows differ between guest and host")
    X = np.hstack([guest.drop(columns=["id", "label"]).to_numpy(), host.drop(columns=["id"]).to_numpy()])
    return X, (guest["label"].to_numpy() > 0).astype(int)


def _centralized(work: Path, alpha: float, max_iter: int) -> float:
    """scikit-learn on the joined aligned data, standardized like the federated steps, same L2 strength."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    X, y = _joined(work, "align", "train")
    T, y_test = _joined(work, "align", "test")
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    # our objective: mean loss + alpha/2 ||w||^2  ==  sklearn's C = 1 / (alpha * n)
    model = LogisticRegression(C=1.0 / (alpha * len(y)), max_iter=max(max_iter, 1000))
    model.fit((X - mean) / std, y)
    return float(roc_auc_score(y_test, model.predict_proba((T - mean) / std)[:, 1]))


# ------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="breast", choices=("a9a", "default_credit", "breast"))
    parser.add_argument("--epochs", type=int, default=10, help="max_iter")
    parser.add_argument("--key-length", type=int, default=2048, help="Paillier key bits of each party")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 4096 (a9a), 1024 (default_credit), 128 (breast)")
    parser.add_argument("--learning-rate", type=float, default=0.15)
    parser.add_argument("--alpha", type=float, default=1e-3, help="L2 strength (same for scikit-learn)")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")


def _brokers() -> dict[str, str]:
    script = REPO / "scripts" / "kafka"
    subprocess.run([str(script), "up", "guest", "host"], check=True, capture_output=True, text=True, timeout=600)
    addrs = subprocess.run([str(script), "addr", "guest", "host"], check=True, capture_output=True, text=True).stdout.split()
    return {GUEST: addrs[0], HOST: addrs[1]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    batch = args.batch_size or {"a9a": 4096, "default_credit": 1024, "breast": 128}[args.dataset]
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        inputs, info = _dataset(args.dataset, work)
        brokers = _brokers()
        roles = {GUEST: "guest", HOST: "host"}
        job = f"bench-hetero-lr-{args.dataset}-{int(time.time())}"
        lr_params = {
            "algorithm": "hetero_lr", "max_iter": args.epochs, "batch_size": batch, "learning_rate": args.learning_rate,
            "alpha": args.alpha, "penalty": "l2", "tol": 0.0, "key_length": args.key_length, "random_state": 0,
        }  # fmt: skip
        seconds: dict[str, float] = {}
        total = time.perf_counter()

        def step(name: str, step_inputs: dict[str, Any], params: dict[str, Any], per_party: Any = None) -> dict[str, PartyRun]:
            specs = write_job(work, job, brokers, roles, step_inputs, name, params, per_party)
            start = time.perf_counter()
            runs = run_parties(name, specs)
            seconds[name] = round(time.perf_counter() - start, 1)
            check_ok(name, runs)
            print(f"{name}: {seconds[name]} s")
            return runs

        aligned = step("align", inputs, {})
        outs = {pid: run.result["outputs"] for pid, run in aligned.items()}
        trained = step("train", {pid: {"train": o["train"]} for pid, o in outs.items()}, lr_params)
        models = {pid: {"model": run.result["model"]} for pid, run in trained.items()}
        predicted = step("predict", {pid: {"test": o["test"]} for pid, o in outs.items()}, {}, models)
        wall = time.perf_counter() - total

        train_metrics = trained[GUEST].result["metrics"]
        auc = predicted[GUEST].result["metrics"]["auc"]
        central = _centralized(work, args.alpha, args.epochs)
    epochs = int(train_metrics["n_iter"])
    per_epoch = train_metrics["fit_seconds"] / epochs
    print(f"{args.dataset}: rows train {aligned[GUEST].result['metrics']['train_intersection']}, "
          f"test {aligned[GUEST].result['metrics']['test_intersection']}; {args.key_length}-bit keys, batch {batch}")  # fmt: skip
    print(f"wall {wall:.1f} s (align {seconds['align']} s, train {seconds['train']} s, predict+evaluate {seconds['predict']} s)")
    print(f"per epoch {per_epoch:.1f} s over {epochs} epochs; loss {train_metrics['loss']:.5f}")
    print(f"federated test AUC {auc:.4f}, centralized {central:.4f}, difference {auc - central:+.4f}")
    return {
        "bench": "hetero_lr",
        "dataset": args.dataset,
        "split": info["split"],
        "key_length": args.key_length,
        "batch_size": batch,
        "epochs": epochs,
        "wall_seconds": round(wall, 1),
        "step_seconds": seconds,
        "fit_seconds": round(train_metrics["fit_seconds"], 1),
        "epoch_seconds": round(per_epoch, 2),
        "federated_auc": round(auc, 4),
        "centralized_auc": round(central, 4),
        "auc_difference": round(auc - central, 4),
    }
