"""Hetero LR training speed on a9a's vertical split (guest 49 + host 74 one-hot features).

Guest and host run in one process over in-memory parties (threads), so the time is both
parties' crypto on a shared CPU, without Kafka; test AUC comes from a9a.t.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.federation.memory import memory_parties

A9A = Path("/work/shared/datasets/a9a")
GUEST_FEATURES, HOST_FEATURES = 49, 74


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=A9A, help="folder with a9a.guest, a9a.host, a9a.t.guest, a9a.t.host")
    parser.add_argument("--rows", type=int, default=32561, help="training rows used (first N)")
    parser.add_argument("--epochs", type=int, default=1, help="max_iter")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--key-bits", type=int, default=2048, help="Paillier key length of each party")
    parser.add_argument("--workers", type=int, default=0, help="process-pool workers per party (0: in-process)")
    parser.add_argument("--learning-rate", type=float, default=0.1)


def _read(path: Path, n_features: int, labels: bool, limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """LIBSVM-like lines '[@]id [label] idx:val ...' of the vertical split (guest indices 1-based, host 0-based)."""
    rows, ys = [], []
    offset = 1 if labels else 0
    with path.open() as fh:
        for number, line in enumerate(fh):
            if limit is not None and number >= limit:
                break
            parts = line.split()
            row = np.zeros(n_features)
            if labels:
                ys.append(1.0 if float(parts[1]) > 0 else 0.0)
            for item in parts[1 + labels :]:
                index, value = item.split(":")
                row[int(index) - offset] = float(value)
            rows.append(row)
    return np.array(rows), (np.array(ys) if labels else None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    X_guest, y = _read(args.data / "a9a.guest", GUEST_FEATURES, True, args.rows)
    X_host, _ = _read(args.data / "a9a.host", HOST_FEATURES, False, args.rows)
    T_guest, y_test = _read(args.data / "a9a.t.guest", GUEST_FEATURES, True, None)
    T_host, _ = _read(args.data / "a9a.t.host", HOST_FEATURES, False, None)
    print(f"a9a: {len(y)} training rows, guest {GUEST_FEATURES} + host {HOST_FEATURES} features, {args.key_bits}-bit keys")

    parties = memory_parties("bench-hetero-lr", {"10000": "guest", "20000": "host"})
    pools = [
        ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) if args.workers else None
        for _ in parties
    ]
    models = {
        pid: HeteroLogisticRegression(
            party=party, max_iter=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            alpha=1e-3, tol=0.0, key_length=args.key_bits, random_state=0, executor=pool,
        )
        for (pid, party), pool in zip(parties.items(), pools)
    }
    train = {"10000": (X_guest, y), "20000": (X_host, None)}
    test = {"10000": T_guest, "20000": T_host}
    errors: list[BaseException] = []
    out: dict[str, Any] = {}

    def both(step: Any) -> float:
        def target(pid: str) -> None:
            try:
                out[pid] = step(pid)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        start = time.perf_counter()
        threads = [threading.Thread(target=target, args=(pid,)) for pid in parties]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return time.perf_counter() - start

    try:
        fit_s = both(lambda pid: models[pid].fit(*train[pid]))
        both(lambda pid: models[pid].predict_proba(test[pid]))
    finally:
        for pool in pools:
            if pool is not None:
                pool.shutdown()
    auc = float(roc_auc_score(y_test, out["10000"][:, 1]))
    epochs = models["10000"].n_iter_
    rows_per_s = len(y) * epochs / fit_s
    print(f"fit: {fit_s:.1f} s for {epochs} epoch(s) = {rows_per_s:.0f} rows/s (both parties, one machine)")
    print(f"loss per epoch: {[round(v, 5) for v in models['10000'].loss_history_]}; test AUC {auc:.4f}")
    return {
        "bench": "hetero_lr",
        "rows": len(y),
        "epochs": epochs,
        "batch_size": args.batch_size,
        "key_bits": args.key_bits,
        "workers": args.workers,
        "fit_seconds": round(fit_s, 2),
        "rows_per_second": round(rows_per_s, 1),
        "test_auc": round(auc, 4),
        "loss_history": [round(v, 6) for v in models["10000"].loss_history_],
    }
