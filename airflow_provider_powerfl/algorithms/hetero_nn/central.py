"""The same network trained centrally on the joined columns: the baseline federated training is measured against.

Every party's bottom model is built from the same ``random_state`` and party id as in a federated fit, the
batches follow the same plan, and each host's interactive weight is a product V U of two orthogonal factors drawn like
the secret ones; the hosts' parts run in this process (``links.LocalLink``), without encryption or defences. ``powerfl bench hetero-nn
--mode simulated`` passes a link that gives each host the defended rows instead (``link``, ``sigma``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_nn.estimator import HeteroNN
from airflow_provider_powerfl.algorithms.hetero_nn.links import LocalLink
from airflow_provider_powerfl.algorithms.hetero_nn.losses import transform
from airflow_provider_powerfl.algorithms.hetero_nn.packing import orthogonal_factor
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import Plan, init_rng


def fit_predict_central(columns: Mapping[str, np.ndarray], guest: str, y: np.ndarray, tests: Mapping[str, np.ndarray],
                        valid: Mapping[str, np.ndarray] | None = None, y_valid: np.ndarray | None = None,
                        link: type[LocalLink] = LocalLink, sigma: float | None = None, **params: Any) -> np.ndarray:  # fmt: skip
    """Train on ``columns`` (party id -> rows, the guest's first) and return the guest's output on ``tests``;
    ``sigma``: the defences' noise multiplier (None: no defences, whatever ``params`` say)."""
    model = HeteroNN(**params)
    units, seed = model.interactive_units, model.random_state if model.random_state is not None else 0
    links = []
    for pid, X in columns.items():
        if pid == guest:
            continue
        rng = init_rng(model.random_state, pid)
        bottom = model._layers(X.shape[1], rng)
        factors = tuple(orthogonal_factor(rng.normal(0.0, 1.0, (units, units))) for _ in range(2))
        data = {"train": X, "valid": None if valid is None else valid[pid], "predict": tests[pid]}
        links.append(link(bottom, factors, data))  # type: ignore[arg-type]
    rng = init_rng(model.random_state, guest)
    model._labels(y, len(y))
    model._build_guest(columns[guest].shape[1], rng)
    X_valid = None if valid is None else valid[guest]
    plan = Plan(len(y), 0 if X_valid is None else len(X_valid), min(model.batch_size, len(y)), model.max_iter, int(seed),
                "plaintext", units)  # fmt: skip
    if sigma is None:
        model.max_norm, sigma = None, 0.0
    session = model._session(links, plan, sigma)
    session.fit(columns[guest], y, X_valid, y_valid)
    return transform(model.task, session.evaluate(tests[guest], "predict"))
