"""scikit-learn's copy of the Breast Cancer Wisconsin (Diagnostic) data, split by columns.

Source: W. Wolberg, W. Street, O. Mangasarian, UCI Machine Learning Repository,
https://doi.org/10.24432/C5DW2B (CC BY 4.0), as shipped with scikit-learn
(`sklearn.datasets.load_breast_cancer`). The split mimics a bank (guest: the label and
the first ten features) and a data partner (host: the other twenty), each holding some
customers the other lacks, so alignment has work to do.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

GUEST_FEATURES = 10


@dataclass(frozen=True)
class VerticalSplit:
    """Paths of one party-split data set (FATE's CSV layout: id, [y,] features)."""

    guest_train: Path
    host_train: Path
    guest_test: Path
    host_test: Path
    shared_train_ids: int
    shared_test_ids: int


def _write(path: Path, ids: np.ndarray, X: np.ndarray, names: list[str], y: np.ndarray | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(["y"] if y is not None else []), *names])
        for row, row_id in enumerate(ids):
            label = [int(y[row])] if y is not None else []
            writer.writerow([row_id, *label, *(f"{v:.6g}" for v in X[row])])


def write_breast_split(
    out_dir: str | Path, *, test_fraction: float = 0.25, only_one_side: float = 0.05, seed: int = 7
) -> VerticalSplit:
    """Write guest/host train/test CSVs; each side also gets `only_one_side` rows the other lacks."""
    data = load_breast_cancer()
    rng = np.random.default_rng(seed)
    n = len(data.target)
    ids = np.array([f"p{i:04d}" for i in range(n)])
    names = [name.replace(" ", "_") for name in data.feature_names]
    order = rng.permutation(n)
    n_test = int(n * test_fraction)
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    shared: dict[str, int] = {}
    for split, rows in (("test", order[:n_test]), ("train", order[n_test:])):
        guest_only, host_only = np.zeros(n, bool), np.zeros(n, bool)
        extra = rng.choice(rows, size=2 * int(len(rows) * only_one_side), replace=False)
        guest_only[extra[: len(extra) // 2]] = True
        host_only[extra[len(extra) // 2 :]] = True
        guest_rows = np.array([r for r in rows if not host_only[r]])
        host_rows = rng.permutation(np.array([r for r in rows if not guest_only[r]]))
        shared[split] = len(rows) - len(extra)
        paths[f"guest_{split}"] = out / "guest" / f"breast_{split}.csv"
        paths[f"host_{split}"] = out / "host" / f"breast_{split}.csv"
        X = data.data
        _write(
            paths[f"guest_{split}"],
            ids[guest_rows],
            X[guest_rows, :GUEST_FEATURES],
            names[:GUEST_FEATURES],
            data.target[guest_rows],
        )
        _write(paths[f"host_{split}"], ids[host_rows], X[host_rows, GUEST_FEATURES:], names[GUEST_FEATURES:], None)
    return VerticalSplit(**paths, shared_train_ids=shared["train"], shared_test_ids=shared["test"])
