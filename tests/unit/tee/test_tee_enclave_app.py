"""The trusted app: released slices in, each owner's sealed outputs out, the model exactly the centralized one."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, SealError
from airflow_provider_powerfl.tee.owner import open_result, seal_slices
from airflow_provider_powerfl.tee.sealing import Slice, context, wrap_key
from enclave import app, train
from tests.unit.tee.tee_fixtures import app_key

JOB, GUEST, HOST = "job-tee", "10000", "20000"


def _data(rows: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    y = (X @ rng.normal(size=6) + rng.normal(size=rows) > 0).astype(np.float64)
    return {"X": X, "y": y, "ids": np.array([f"id{i}" for i in range(rows)])}


def _slices(d: dict[str, np.ndarray], rows: slice, shuffle: np.random.Generator) -> dict[str, Slice]:
    """Guest: the first 3 columns and the labels; host: the other 3, its rows in another order."""
    ids, X, y = d["ids"][rows], d["X"][rows], d["y"][rows]
    perm = shuffle.permutation(len(ids))
    return {GUEST: Slice(ids, X[:, :3], y), HOST: Slice(ids[perm], X[perm, 3:])}


def _run(d: dict[str, np.ndarray], operation: str, params: dict, confidential: bool = True) -> dict[str, dict]:
    key, public = app_key()
    rng = np.random.default_rng(1)
    train_s, test_s = _slices(d, slice(0, 300), rng), _slices(d, slice(300, None), rng)
    owners, keys = [], {}
    for pid in (GUEST, HOST):
        keys[pid], sealed = seal_slices(JOB, pid, operation, {"train": train_s[pid], "test": test_s[pid]})
        wrapped = wrap_key(keys[pid], public, context(JOB, pid, operation))
        owners.append(app.OwnerInput(pid, wrapped, sealed))
    results = app.run(key, JOB, operation, params, owners, confidential)
    return {pid: open_result(results[pid], keys[pid], JOB, pid, operation) for pid in (GUEST, HOST)}


@pytest.mark.parametrize(
    ("operation", "params"), [("train_lr", {}), ("train_gbdt", {"n_estimators": 5}), ("train_nn", {"max_iter": 3})]
)
def test_the_enclave_model_is_the_centralized_model(operation: str, params: dict) -> None:
    d = _data()
    out = _run(d, operation, params)
    ranges = {GUEST: slice(0, 3), HOST: slice(3, 6)}  # NN: each party's bottom model on its own columns
    _, scores = train.fit_and_score(operation, d["X"][:300], d["y"][:300], d["X"][300:], params, ranges)
    assert out[GUEST]["auc"] == out[HOST]["auc"] == train.auc(d["y"][300:], scores)
    assert out[GUEST]["confidential"] and "notice" not in out[GUEST]
    if operation == "train_lr":  # each owner gets its own columns' weights; only the label owner the intercept
        central = train.fit_lr(d["X"][:300], d["y"][:300])
        assert out[GUEST]["weights"]["coef"] == central["coef"][:3].tolist()
        assert out[HOST]["weights"]["coef"] == central["coef"][3:].tolist()
        assert "intercept" in out[GUEST] and "intercept" not in out[HOST]
    else:
        assert out[GUEST]["test_scores"] == scores.tolist() and "test_scores" not in out[HOST]


def test_a_simulated_run_says_not_confidential_in_every_result() -> None:
    out = _run(_data(), "train_lr", {}, confidential=False)
    assert all(r["notice"] == NOT_CONFIDENTIAL and r["confidential"] is False for r in out.values())


def test_slices_that_are_not_aligned_or_sealed_for_another_job_are_refused() -> None:
    d = _data(40)
    guest = Slice(d["ids"], d["X"][:, :3], d["y"])
    with pytest.raises(DataError, match="20000"):
        app.join({GUEST: guest, HOST: Slice(d["ids"][1:], d["X"][1:, 3:])})
    key, public = app_key()
    data_key, sealed = seal_slices("another-job", GUEST, "train_lr", {"train": guest, "test": guest})
    owner = app.OwnerInput(GUEST, wrap_key(data_key, public, context(JOB, GUEST, "train_lr")), sealed)
    with pytest.raises(SealError, match="10000's train slice"):
        app.run(key, JOB, "train_lr", {}, [owner], True)
