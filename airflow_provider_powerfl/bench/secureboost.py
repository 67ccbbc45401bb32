"""SecureBoost end to end: guest and host as two processes talking through real Kafka, XGBoost beside them.

Each party process loads only its own columns, builds a Kafka-backed Party from a
registry (brokers from ``scripts/kafka up guest host``), trains HeteroSecureBoost and
predicts the test rows jointly. In the same run XGBoost (tree_method="hist") trains with
the same trees, depth, learning rate, max_bin and lambda on the joined data. Reports wall
time, time per tree and both test metrics (AUC, or accuracy for vehicle_scale).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("POWERFL_DATASETS", "/work/shared/datasets"))
GUEST, HOST = "10000", "20000"
# FATE's benchmark_quality/hetero_sbt/sbt_default_credit_config.yaml: 30 trees, depth 3, 32 bins, 1024-bit Paillier
DEFAULTS = {
    "a9a": {"trees": 40, "depth": 6, "bins": 32, "key_length": 2048},
    "default_credit": {"trees": 30, "depth": 3, "bins": 32, "key_length": 1024},
    "vehicle_scale": {"trees": 10, "depth": 3, "bins": 32, "key_length": 2048},
}


# ------------------------------------------------------------------ data sets
def load_dataset(name: str) -> dict[str, np.ndarray]:
    """Guest columns + labels and host columns, train and test, rows aligned by id."""
    if name == "a9a":
        root = DATASETS / "a9a"
        gx, y, gid = _libsvm(root / "a9a.guest", 49, 1, labelled=True)
        hx, _, hid = _libsvm(root / "a9a.host", 74, 0, labelled=False)
        gt, yt, gtid = _libsvm(root / "a9a.t.guest", 49, 1, labelled=True)
        ht, _, htid = _libsvm(root / "a9a.t.host", 74, 0, labelled=False)
        if not (np.array_equal(gid, hid) and np.array_equal(gtid, htid)):
            raise PowerFLError("a9a guest and host files list different ids")
        return {"guest": gx, "host": hx, "y": (y > 0).astype(np.float64), "guest_test": gt, "host_test": ht, "y_test": (yt > 0).astype(np.float64)}
    if name in ("default_credit", "vehicle_scale"):
        g = np.genfromtxt(DATASETS / "fate" / f"{name}_hetero_guest.csv", delimiter=",", skip_header=1)
        h = np.genfromtxt(DATASETS / "fate" / f"{name}_hetero_host.csv", delimiter=",", skip_header=1)
        if not np.array_equal(g[:, 0], h[:, 0]):
            raise PowerFLError(f"{name} guest and host files list different ids")
        test = g[:, 0].astype(np.int64) % 5 == 0  # 20 % held out by id, at both parties alike
        return {"guest": g[~test, 2:], "host": h[~test, 1:], "y": g[~test, 1],
                "guest_test": g[test, 2:], "host_test": h[test, 1:], "y_test": g[test, 1]}  # fmt: skip
    raise ConfigError(f"--dataset: expected a9a|default_credit|vehicle_scale, got {name!r}")


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


def _metric(y: np.ndarray, scores: np.ndarray, multiclass: bool) -> tuple[str, float]:
    from sklearn.metrics import roc_auc_score

    if multiclass:
        return "accuracy", float(np.mean(scores.argmax(axis=1) == y))
    return "auc", float(roc_auc_score(y, scores))


# ------------------------------------------------------------------ one party's process
def party_main(config_path: str) -> None:
    """Entry of a party process: train and predict jointly, write result.json next to the config."""
    from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
    from airflow_provider_powerfl.federation.keys import SigningKey
    from airflow_provider_powerfl.federation.party import Party
    from airflow_provider_powerfl.federation.registry import PartyRegistry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = json.loads(Path(config_path).read_text())
    pid, role = config["party_id"], config["role"]
    data = np.load(config["data"])
    registry = PartyRegistry.from_dict(config["registry"])
    party = Party.from_registry(registry, pid, SigningKey.from_file(config["key"]), config["job_id"], 1, config["roles"])
    executor = None
    if config["jobs"] > 1:
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(config["jobs"])
    model = HeteroSecureBoost(party=party, executor=executor, timeout=3600, **config["params"])
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(data["X"], data["y"] if role == "guest" else None)
    fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    raw = model.decision_function(data["X_test"])
    predict_seconds = time.perf_counter() - start
    party.close()
    if executor is not None:
        executor.shutdown(wait=True)
    workers_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = {"fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu, "predict_seconds": predict_seconds,
                              "worker_cpu_seconds": workers_cpu.ru_utime + workers_cpu.ru_stime}  # fmt: skip
    if role == "guest":
        multiclass = raw.shape[1] > 1
        scores = raw if multiclass else raw[:, 0]  # AUC and argmax need only raw scores
        result["metric"] = _metric(data["y_test"], scores, multiclass)
        result["trees"] = sum(len(r) for r in model.trees_)
        result["tree_seconds"] = model.tree_seconds_
        result["host_splits"] = sum(len(d) for d in model.host_split_gain_.values())
    Path(config_path).with_name(f"result-{pid}.json").write_text(json.dumps(result))


# ------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="default_credit", choices=tuple(DEFAULTS))
    parser.add_argument("--trees", type=int, default=None, help="n_estimators (default per data set; FATE's 30 for default_credit)")
    parser.add_argument("--depth", type=int, default=None, help="max_depth")
    parser.add_argument("--bins", type=int, default=None, help="max_bin")
    parser.add_argument("--learning-rate", type=float, default=0.3)
    parser.add_argument("--reg-lambda", type=float, default=1.0)
    parser.add_argument("--key-length", type=int, default=None, help="guest's Paillier key bits (default: FATE's 1024 for default_credit, else 2048)")
    parser.add_argument("--jobs", type=int, default=1, help="crypto worker processes per party (executor)")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")


def _brokers() -> dict[str, str]:
    script = REPO / "scripts" / "kafka"
    subprocess.run([str(script), "up", "guest", "host"], check=True, capture_output=True, text=True, timeout=600)
    addrs = subprocess.run([str(script), "addr", "guest", "host"], check=True, capture_output=True, text=True).stdout.split()
    return {GUEST: addrs[0], HOST: addrs[1]}


def _xgboost(d: dict[str, np.ndarray], params: dict[str, Any], multiclass: bool) -> tuple[str, float, float]:
    import xgboost

    X, T = np.hstack([d["guest"], d["host"]]), np.hstack([d["guest_test"], d["host_test"]])
    cls = xgboost.XGBClassifier
    model = cls(n_estimators=params["n_estimators"], max_depth=params["max_depth"], learning_rate=params["learning_rate"],
                max_bin=params["max_bin"], reg_lambda=params["reg_lambda"], tree_method="hist", n_jobs=1)  # fmt: skip
    start = time.perf_counter()
    model.fit(X, d["y"].astype(np.int64))
    seconds = time.perf_counter() - start
    proba = model.predict_proba(T)
    name, value = _metric(d["y_test"], proba if multiclass else proba[:, 1], multiclass)
    return name, value, seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    defaults = DEFAULTS[args.dataset]
    key_length = args.key_length or defaults["key_length"]
    params = {
        "n_estimators": args.trees or defaults["trees"], "max_depth": args.depth or defaults["depth"],
        "max_bin": args.bins or defaults["bins"], "learning_rate": args.learning_rate, "reg_lambda": args.reg_lambda,
        "objective": "multi:softprob" if args.dataset == "vehicle_scale" else "binary:logistic",
        "key_length": key_length, "random_state": 0,
    }  # fmt: skip
    d = load_dataset(args.dataset)
    multiclass = args.dataset == "vehicle_scale"
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-sbt-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        brokers = _brokers()
        roles = {GUEST: "guest", HOST: "host"}
        registry = {"parties": {}}
        for pid, role in roles.items():
            key, pub = generate_party_keys(work / "keys", pid, overwrite=True)
            registry["parties"][pid] = {"role": role, "bootstrap_servers": brokers[pid], "public_key": str(pub)}
        job = f"bench-secureboost-{args.dataset}-{int(time.time())}"
        procs = {}
        for pid, side in ((GUEST, "guest"), (HOST, "host")):
            np.savez(work / f"{pid}.npz", X=d[side], X_test=d[f"{side}_test"], y=d["y"] if side == "guest" else np.zeros(0), y_test=d["y_test"] if side == "guest" else np.zeros(0))
            config = {"party_id": pid, "role": roles[pid], "roles": roles, "registry": registry, "key": str(work / "keys" / f"{pid}.key"),
                      "job_id": job, "data": str(work / f"{pid}.npz"), "params": params, "jobs": args.jobs}  # fmt: skip
            path = work / f"config-{pid}.json"
            path.write_text(json.dumps(config))
            log = open(work / f"party-{pid}.log", "w")  # noqa: SIM115 - closed below
            cmd = [sys.executable, "-m", "airflow_provider_powerfl.bench.secureboost", str(path)]
            procs[pid] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log)
        print(f"{args.dataset}: train {len(d['y'])} rows (guest {d['guest'].shape[1]} + host {d['host'].shape[1]} features), "
              f"test {len(d['y_test'])}; {params['n_estimators']} trees, depth {params['max_depth']}, {params['max_bin']} bins, "
              f"{key_length}-bit Paillier; two processes through Kafka {brokers[GUEST]} / {brokers[HOST]}", flush=True)  # fmt: skip
        start = time.perf_counter()
        for pid, (proc, log) in procs.items():
            code = proc.wait()
            log.close()
            if code != 0:
                tail = (work / f"party-{pid}.log").read_text()[-3000:]
                raise PowerFLError(f"party {pid} failed (exit {code}):\n{tail}")
        wall = time.perf_counter() - start
        results = {pid: json.loads((work / f"result-{pid}.json").read_text()) for pid in roles}
    load = os.getloadavg()
    guest = results[GUEST]
    metric, fed_value = guest["metric"]
    x_metric, x_value, x_seconds = _xgboost(d, params, multiclass)
    per_tree = guest["fit_seconds"] / guest["trees"]
    print(f"wall {wall:.1f} s (fit {guest['fit_seconds']:.1f} s, joint predict {guest['predict_seconds']:.1f} s); "
          f"{per_tree:.2f} s per tree over {guest['trees']} trees ({guest['host_splits']} host splits)")  # fmt: skip
    cpu = {pid: results[pid]["fit_cpu_seconds"] for pid in roles}
    workers = {pid: results[pid]["worker_cpu_seconds"] for pid in roles}
    print(f"fit CPU seconds (main process, load-independent): guest {cpu[GUEST]:.1f}, host {cpu[HOST]:.1f}; "
          f"per tree {cpu[GUEST] / guest['trees']:.2f} + {cpu[HOST] / guest['trees']:.2f}; "
          f"--jobs pool workers (fit and predict): guest {workers[GUEST]:.1f}, host {workers[HOST]:.1f}")
    print(f"federated test {metric} {fed_value:.4f}, XGBoost hist {x_value:.4f} ({x_seconds:.1f} s), difference {fed_value - x_value:+.4f}")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return {
        "bench": "secureboost", "dataset": args.dataset, "rows_train": int(len(d["y"])), "rows_test": int(len(d["y_test"])),
        "trees": guest["trees"], "depth": params["max_depth"], "bins": params["max_bin"], "learning_rate": params["learning_rate"],
        "key_length": key_length, "jobs": args.jobs, "wall_seconds": round(wall, 1), "fit_seconds": round(guest["fit_seconds"], 1),
        "predict_seconds": round(guest["predict_seconds"], 1), "seconds_per_tree": round(per_tree, 2),
        "fit_cpu_seconds": {role: round(cpu[pid], 1) for pid, role in roles.items()},
        "worker_cpu_seconds": {role: round(workers[pid], 1) for pid, role in roles.items()}, "metric": metric,
        "federated": round(fed_value, 4), "xgboost": round(x_value, 4), "difference": round(fed_value - x_value, 4),
        "load_average": [round(v, 1) for v in load],
    }  # fmt: skip


if __name__ == "__main__":
    party_main(sys.argv[1])
