"""Train: fit a vertical model jointly with the other parties on aligned inputs; save this party's part.

    spark-submit spark_jobs/train.py --spec spec.yaml

Reads input ``params.input`` (default ``train``): the aligned rows of the
align step (every party must hold the same ids in the same order; checked
before training). The protocol runs in the driver; its Paillier chunks
(encryption, decryption, X^T c) run as Spark tasks. Writes into ``outputs.dir``:

* ``model/``: this party's model artifact (own weights, feature names, scaler; models.save_model);
* ``loss.json``: loss per epoch and timings;
* guest: ``report/`` with ``metrics.json`` and ROC/KS/loss PNGs on the training rows;
* ``result.json``: ``model`` (root, model_id, version) for the predict step, metrics.

Params: ``algorithm`` (``hetero_lr``), ``standardize`` (true: each party scales
its own columns), ``timeout`` (seconds per peer message, default 600), and
the estimator's: ``max_iter``, ``batch_size``, ``learning_rate``, ``optimizer``,
``penalty``, ``alpha``, ``tol``, ``class_weight``, ``min_batch_size``,
``key_length``, ``random_state``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logging  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression  # noqa: E402
from airflow_provider_powerfl.evaluation import evaluate_binary, lr_feature_importance, write_report  # noqa: E402
from airflow_provider_powerfl.exceptions import ConfigError  # noqa: E402
from airflow_provider_powerfl.models import save_model  # noqa: E402
from airflow_provider_powerfl.taskspec import TaskSpec  # noqa: E402
from spark_jobs.common.executor import spark_chunk_map  # noqa: E402
from spark_jobs.common.io import collect_arrays, read_input  # noqa: E402
from spark_jobs.common.output import atomic_output  # noqa: E402
from spark_jobs.common.party import build_party, recv_timeout  # noqa: E402
from spark_jobs.common.runner import run_step  # noqa: E402
from spark_jobs.common.vertical import (  # noqa: E402
    apply_scaler,
    binary_labels,
    check_same_rows,
    fit_scaler,
    local_path,
    output_uri,
    param,
    write_result,
)

log = logging.getLogger(__name__)

ALGORITHMS = ("hetero_lr",)
ESTIMATOR_PARAMS = (
    "max_iter", "batch_size", "learning_rate", "optimizer", "penalty", "alpha", "tol",
    "class_weight", "min_batch_size", "key_length", "random_state",
)  # fmt: skip


def estimator_params(spec: TaskSpec) -> dict[str, Any]:
    params = {name: spec.params[name] for name in ESTIMATOR_PARAMS if name in spec.params}
    if isinstance(params.get("class_weight"), dict):  # JSON/YAML keys may be "0"/"1"
        params["class_weight"] = {int(k): float(v) for k, v in params["class_weight"].items()}
    return params


def train_step(spark: SparkSession, spec: TaskSpec) -> None:
    """Fit hetero LR with the other parties and save this party's own model."""
    algorithm = param(spec, "algorithm", "hetero_lr", str)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"params.algorithm: expected {'|'.join(ALGORITHMS)}, got {algorithm!r}")
    name = param(spec, "input", "train", str)
    timeout = recv_timeout(spec)
    guest = spec.role == "guest"
    table = read_input(spark, spec.input(name), require_label=guest, name=name)
    ids, X, y = collect_arrays(table, sort_by_id=True)  # the same order at every party of an aligned input
    label_encoding = None
    if guest:
        y, label_encoding = binary_labels(y, table.uri)
    encoding = {**fit_scaler(X, param(spec, "standardize", True, bool)), "labels": label_encoding}
    Xs = apply_scaler(X, encoding)
    names = list(table.feature_names)

    with build_party(spec, "train") as party:
        check_same_rows(party, ids, name, timeout)
        model = HeteroLogisticRegression(party=party, executor=spark_chunk_map(spark.sparkContext), timeout=timeout, **estimator_params(spec))
        start = time.perf_counter()
        model.fit(Xs, y if guest else None)
        fit_seconds = time.perf_counter() - start
        proba = model.predict_proba(Xs)  # joint scores of the training rows: the guest's report
    log.info("trained %s in %.1f s (%d epochs), loss %s", algorithm, fit_seconds, model.n_iter_, model.loss_history_)

    metrics: dict[str, Any] | None = None
    if guest:
        importance = lr_feature_importance(np.asarray(model.coef_), np.ones(len(names)) if encoding["standardize"] else X.std(axis=0), names)
        metrics = evaluate_binary(y, proba[:, 1], loss_history=model.loss_history_, importance={spec.party_id: importance})
    loss = {
        "loss_history": model.loss_history_,
        "n_iter": model.n_iter_,
        "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": round(fit_seconds / model.n_iter_, 3),
        "rows": len(ids),
    }
    with atomic_output(spark, spec.outputs.dir) as out:
        ref = save_model(
            local_path(out, "model"), job_id=spec.job_id, party_id=spec.party_id, role=spec.role, algorithm=algorithm,
            model_state=model.to_dict(), feature_names=names, encoding=encoding, metrics=metrics,
        )  # fmt: skip
        out.write_json("loss.json", loss)
        summary: dict[str, Any] = {"loss": model.loss_history_[-1], "n_iter": model.n_iter_, "fit_seconds": round(fit_seconds, 3)}
        if metrics is not None:
            write_report(local_path(out, "report"), metrics, y, proba[:, 1], model.loss_history_)
            summary.update(train_auc=metrics["auc"], train_ks=metrics["ks"])
        model_ref = {"root": output_uri(spec, "model"), "model_id": ref.model_id, "version": ref.version, "algorithm": algorithm}
        write_result(out, model=model_ref, metrics=summary)


def main(argv: list[str] | None = None) -> int:
    return run_step("train", train_step, argv)


if __name__ == "__main__":
    sys.exit(main())
