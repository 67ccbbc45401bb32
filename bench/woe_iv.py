"""Federated binning with WOE/IV of every host feature of default_credit (30000 rows), 2048-bit keys.

Guest and host run in this process (in-memory parties: real codec and signatures, no Kafka),
sharing one process pool for the Paillier chunks. The IVs are checked against the plaintext
computation on the joined data. Wall time depends on the machine's load: the load average and
the CPU seconds (this process and its pool workers; load-independent) are reported beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

GUEST, HOST = "10000", "20000"
DATA = Path("/work/shared/datasets/fate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DATA, help="directory of default_credit_hetero_{guest,host}.csv")
    parser.add_argument("--rows", type=int, default=None, help="first N rows only (default: all 30000)")
    parser.add_argument("--method", choices=("quantile", "bucket"), default="quantile")
    parser.add_argument("--bins", type=int, default=10, help="value bins per feature (FATE's default 10)")
    parser.add_argument("--key-length", type=int, default=2048)
    parser.add_argument("--jobs", type=int, default=2, help="processes for the Paillier chunks (1: in-process)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    guest = np.loadtxt(args.data / "default_credit_hetero_guest.csv", delimiter=",", skiprows=1, max_rows=args.rows)
    host = np.loadtxt(args.data / "default_credit_hetero_host.csv", delimiter=",", skiprows=1, max_rows=args.rows)
    if not np.array_equal(guest[:, 0], host[:, 0]):
        raise SystemExit("guest and host files do not hold the same ids in the same order")
    y, x_guest, x_host = guest[:, 1], guest[:, 2:], host[:, 1:]
    print(f"default_credit: {len(y)} rows, guest {x_guest.shape[1]} features, host {x_host.shape[1]} features; "
          f"{args.method} {args.bins} bins, {args.key_length}-bit key, {args.jobs} process(es); load {_load()}")  # fmt: skip
    models, wall, cpu = _fit(args, x_guest, y, x_host)
    host_model, guest_model = models[HOST], models[GUEST]
    worst = _largest_iv_error(host_model, x_host, y)
    timings = {**guest_model.timings_, **host_model.timings_}
    print(f"WOE/IV of {x_host.shape[1]} host features in {wall:.2f} s, {cpu:.1f} CPU s "
          f"(encrypt {timings['encrypt']:.2f} s, bin sums {timings['bin_sums']:.2f} s, decrypt {timings['decrypt']:.3f} s); load {_load()}")  # fmt: skip
    print("host IV: " + ", ".join(f"x{j} {v:.4f}" for j, v in enumerate(host_model.iv_)))
    print(f"largest |IV - plaintext IV|: {worst:.2e}")
    return {
        "bench": "woe_iv",
        "rows": int(len(y)),
        "host_features": int(x_host.shape[1]),
        "guest_features": int(x_guest.shape[1]),
        "method": args.method,
        "bins": args.bins,
        "key_length": args.key_length,
        "jobs": args.jobs,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 2),
        "encrypt_seconds": round(timings["encrypt"], 3),
        "bin_sums_seconds": round(timings["bin_sums"], 3),
        "decrypt_seconds": round(timings["decrypt"], 4),
        "host_iv": [round(float(v), 6) for v in host_model.iv_],
        "max_iv_error": worst,
        "load_average": _load(),
    }


def _fit(args: argparse.Namespace, x_guest: np.ndarray, y: np.ndarray, x_host: np.ndarray) -> tuple[dict[str, Any], float, float]:
    """Guest and host fitted concurrently in this process: their models, the wall and the CPU seconds."""
    from airflow_provider_powerfl.algorithms.feature_engineering import HeteroFeatureBinning
    from airflow_provider_powerfl.federation.memory import memory_parties

    parties = memory_parties("bench-woe-iv", {GUEST: "guest", HOST: "host"})
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    models: dict[str, Any] = {}
    errors: list[BaseException] = []

    def fit(pid: str, X: np.ndarray, labels: np.ndarray | None) -> None:
        try:
            models[pid] = HeteroFeatureBinning(
                party=parties[pid], method=args.method, n_bins=args.bins, key_length=args.key_length, executor=pool
            ).fit(X, labels)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    cpu_start = _cpu()
    start = time.perf_counter()
    threads = [threading.Thread(target=fit, args=(GUEST, x_guest, y)), threading.Thread(target=fit, args=(HOST, x_host, None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if pool is not None:
        pool.shutdown()  # reaps the workers, so their CPU time counts below
    cpu = _cpu() - cpu_start
    if errors:
        raise errors[0]
    return models, wall, cpu


def _largest_iv_error(host_model: Any, x_host: np.ndarray, y: np.ndarray) -> float:
    """The largest |IV - plaintext IV| over the host's features, the plaintext IV computed on the joined data."""
    from airflow_provider_powerfl.algorithms.feature_engineering import woe_iv

    bins = host_model.transform(x_host)
    worst = 0.0
    for j, n in enumerate(host_model.binner_.bin_counts()):
        events = np.bincount(bins[:, j], weights=y, minlength=n)
        _, iv = woe_iv(events, np.bincount(bins[:, j], minlength=n) - events)
        worst = max(worst, abs(iv - host_model.iv_[j]))
    return worst


def _cpu() -> float:
    """User + system CPU seconds of this process and its reaped children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> float:
    return round(os.getloadavg()[0], 2)
