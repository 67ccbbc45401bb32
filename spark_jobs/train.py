"""Train: fit a vertical model jointly with the other parties on aligned inputs; save this party's part.

    spark-submit spark_jobs/run.py train --spec spec.yaml

Reads input ``params.input`` (default ``train``): the aligned rows of the
align step (every party must hold the same ids in the same order; checked
before training). The protocol runs in the driver; its Paillier chunks
(encryption, decryption, X^T c or the hosts' histogram products) run as Spark tasks, except
hetero LR's on a local master, which run on the driver's threads (``common.executor.crypto_map``).
Writes into ``outputs.dir``:

* ``model/``: this party's model artifact (models.save_model; an artifact holds only its party's state);
* guest: ``report/`` with ``metrics.json`` on the training rows (binary: and ROC/KS/loss PNGs);
* ``result.json``: ``model`` (root, model_id, version) for the predict step, metrics.

While it trains, it posts signed progress reports (epoch or tree, loss at the guest, ETA) to this party's
broker and, without the loss, to the peers' (``common.progress``), where flow-server shows them.

``params.algorithm`` picks the model (default ``hetero_lr``); ``params.timeout``
(seconds per peer message, default 600) holds for both.

``hetero_lr`` also writes ``loss.json`` (loss per epoch, timings). Params:
``standardize`` (true: each party scales its own columns) and the estimator's:
``max_iter``, ``batch_size``, ``learning_rate``, ``optimizer``, ``penalty``,
``alpha``, ``tol``, ``class_weight``, ``min_batch_size``, ``key_length``, ``random_state``,
``residual``, ``slope_every``, ``init_scale``, ``min_support``, ``epsilon``, ``delta``.

``hetero_nn`` writes ``loss.json`` too; params: ``validation`` (an aligned input for
``early_stopping_rounds``), ``standardize`` and the estimator's (algorithms.hetero_nn.params.HeteroNNParams).

``secureboost`` also writes ``boosting.json`` (seconds per tree, validation loss)
and ``feature_importance.json`` (this party's own features: split count, and gain
at the guest). Params: ``objective`` (``binary``, ``multiclass`` with labels
0..K-1, ``regression``), ``validation`` (name of an aligned input for
``early_stopping_rounds``) and the estimator's: ``n_estimators``, ``max_depth``,
``learning_rate``, ``max_bin``, ``min_child_weight``, ``reg_lambda``, ``gamma``,
``subsample``, ``goss``, ``top_rate``, ``other_rate``, ``early_stopping_rounds``,
``random_state``, ``key_length``, ``guest_only_trees``, ``hist_noise`` (a host's own), ``hide_instance_space``
(the guest's, default true).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
from airflow_provider_powerfl.algorithms.hetero_nn import HeteroNN
from airflow_provider_powerfl.algorithms.hetero_nn.params import HeteroNNParams
from airflow_provider_powerfl.evaluation import lr_feature_importance
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.jobs.params import HeteroLRTrain, HeteroNNTrain, SecureBoostTrain
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.models import save_model
from spark_jobs.common import secureboost as sbt
from spark_jobs.common.evaluation import evaluate, summary, task_labels, write_evaluation
from spark_jobs.common.executor import crypto_map, spark_chunk_map
from spark_jobs.common.io import Table, read_arrays
from spark_jobs.common.output import Staging, atomic_output
from spark_jobs.common.party import build_party
from spark_jobs.common.progress import step_progress
from spark_jobs.common.runner import run_step
from spark_jobs.common.vertical import (
    apply_scaler,
    binary_labels,
    check_same_rows,
    fit_scaler,
    local_path,
    output_uri,
    write_result,
)

log = logging.getLogger(__name__)


def aligned_arrays(spark: SparkSession, spec: TaskSpec, name: str) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """(table, ids, X, y) of an aligned input, sorted by id: the same order at every party (labels at the guest)."""
    return read_arrays(spark, spec.input(name), require_label=spec.role == "guest", name=name)


def save_own_model(out: Staging, spec: TaskSpec, algorithm: str, model_state: dict[str, Any], names: list[str],
                   encoding: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """Save this party's part into ``model/``; its reference for result.json (the predict step's ``params.model``)."""
    ref = save_model(
        local_path(out, "model"), job_id=spec.job_id, party_id=spec.party_id, role=spec.role, algorithm=algorithm,
        model_state=model_state, feature_names=names, encoding=encoding, metrics=metrics,
    )  # fmt: skip
    return {"root": output_uri(spec, "model"), "model_id": ref.model_id, "version": ref.version, "algorithm": algorithm}


def train_hetero_lr(spark: SparkSession, spec: TaskSpec, params: HeteroLRTrain) -> None:
    """Fit hetero LR with the other parties and save this party's own model."""
    name, timeout = params.input, params.timeout
    guest = spec.role == "guest"
    table, ids, X, y = aligned_arrays(spark, spec, name)
    label_encoding = None
    if guest:
        y, label_encoding = binary_labels(y, table.uri)
    encoding = {**fit_scaler(X, params.standardize), "labels": label_encoding}
    Xs = apply_scaler(X, encoding)
    names = list(table.feature_names)

    with build_party(spec, "train") as party, step_progress(spec, "train") as progress:
        check_same_rows(party, ids, name, timeout)
        estimator_params = params.model_dump(include=set(HeteroLRParams.model_fields))
        model = HeteroLogisticRegression(
            party=party, executor=crypto_map(spark), timeout=timeout, progress=progress, **estimator_params
        )
        start = time.perf_counter()
        model.fit(Xs, y if guest else None)
        fit_seconds = time.perf_counter() - start
        proba = model.predict_proba(Xs)  # joint scores of the training rows: the guest's report
    log.info("trained hetero_lr in %.1f s (%d epochs), loss %s", fit_seconds, model.n_iter_, model.loss_history_)

    metrics: dict[str, Any] | None = None
    if guest:
        importance = lr_feature_importance(
            np.asarray(model.coef_), np.ones(len(names)) if encoding["standardize"] else X.std(axis=0), names
        )
        metrics = evaluate("binary", y, proba[:, 1], loss_history=model.loss_history_, importance={spec.party_id: importance})
    loss = {
        "loss_history": model.loss_history_,
        "n_iter": model.n_iter_,
        "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": round(fit_seconds / model.n_iter_, 3),
        "rows": len(ids),
    }
    with atomic_output(spark, spec.outputs.dir) as out:
        model_ref = save_own_model(out, spec, "hetero_lr", model.to_dict(), names, encoding, metrics)
        out.write_json("loss.json", loss)
        result: dict[str, Any] = {"loss": model.loss_history_[-1], "n_iter": model.n_iter_, "fit_seconds": round(fit_seconds, 3)}
        if metrics is not None:
            write_evaluation(out, "binary", metrics, y, proba[:, 1], model.loss_history_)
            result.update(summary("binary", metrics, "train_"))
        write_result(out, model=model_ref, metrics=result)


def train_secureboost(spark: SparkSession, spec: TaskSpec, params: SecureBoostTrain) -> None:
    """Grow SecureBoost trees with the other parties; save this party's part (a host's own thresholds stay here)."""
    name, validation, timeout = params.input, params.validation, params.timeout
    guest = spec.role == "guest"
    model = sbt.build_estimator(params, spark_chunk_map(spark.sparkContext, sbt.TASKS_PER_CORE))
    _, task = sbt.objective_of(params.objective)
    table, ids, X, y = aligned_arrays(spark, spec, name)
    names = list(table.feature_names)
    label_encoding = None
    if guest:
        y, label_encoding = task_labels(task, y, table.uri)
    eval_set: Any = None
    if validation is not None:
        v_table, v_ids, X_eval, y_eval = aligned_arrays(spark, spec, validation)
        if list(v_table.feature_names) != names:
            raise DataError(f"{v_table.uri}: features {list(v_table.feature_names)[:8]} differ from input {name!r}'s {names[:8]}")
        eval_set = (X_eval, task_labels(task, y_eval, v_table.uri)[0]) if guest else X_eval

    with build_party(spec, "train") as party, step_progress(spec, "train") as progress:
        check_same_rows(party, ids, name, timeout)
        if validation is not None:
            check_same_rows(party, v_ids, validation, timeout)
        model.set_params(party=party, progress=progress)
        start = time.perf_counter()
        model.fit(X, y if guest else None, eval_set=eval_set)
        fit_seconds = time.perf_counter() - start
        raw = model.decision_function(X)  # joint scores of the training rows: the guest's report
    n_trees = sum(len(trees) for trees in model.trees_) if guest else None
    log.info("trained secureboost in %.1f s", fit_seconds)

    metrics: dict[str, Any] | None = None
    if guest:
        output = model.objective_.transform(raw)
        importance = sbt.report_importance(model, spec.party_id, names)
        metrics = evaluate(task, y, output, importance=importance, importance_method=sbt.IMPORTANCE_METHOD)
    with atomic_output(spark, spec.outputs.dir) as out:
        model_ref = save_own_model(out, spec, "secureboost", model.to_dict(), names, {"labels": label_encoding}, metrics)
        out.write_json("feature_importance.json", sbt.own_importance(model, names))
        result: dict[str, Any] = {"fit_seconds": round(fit_seconds, 3), "rows": len(ids)}
        if metrics is not None:
            out.write_json("boosting.json", {
                **result, "objective": model.objective_.name, "rounds": len(model.trees_), "trees": n_trees,
                "tree_seconds": [round(t, 3) for t in model.tree_seconds_], "validation_loss": model.evals_result_,
                "best_iteration": model.best_iteration_,
            })  # fmt: skip
            write_evaluation(out, task, metrics, y, output)
            result.update(trees=n_trees, seconds_per_tree=round(fit_seconds / n_trees, 3), **summary(task, metrics, "train_"))
        write_result(out, model=model_ref, metrics=result)


def codes_unscaled(encoding: dict[str, Any], names: list[str], categorical: list[str], spec: TaskSpec) -> dict[str, Any]:
    """The scaler with hetero NN's categorical columns (integer codes, embedded) left as they are."""
    missing = [c for c in categorical if c not in names]
    if missing:
        raise ConfigError(f"params.categorical: party {spec.party_id} has no column {missing[0]!r} (its columns: {names[:8]})")
    if encoding.get("standardize"):
        for c in categorical:
            encoding["mean"][names.index(c)], encoding["std"][names.index(c)] = 0.0, 1.0
    return encoding


def train_hetero_nn(spark: SparkSession, spec: TaskSpec, params: HeteroNNTrain) -> None:
    """Fit hetero NN with the other parties (its Paillier chunks through ``crypto_map``); save this party's part."""
    name, validation, timeout, guest = params.input, params.validation, params.timeout, spec.role == "guest"
    table, ids, X, y = aligned_arrays(spark, spec, name)
    label_encoding = None
    if guest:
        y, label_encoding = task_labels(params.task, y, table.uri)
    encoding = {**codes_unscaled(fit_scaler(X, params.standardize), list(table.feature_names), params.categorical, spec),
                "labels": label_encoding}  # fmt: skip
    eval_set: Any = None
    if validation is not None:
        v_table, v_ids, X_eval, y_eval = aligned_arrays(spark, spec, validation)
        X_eval = apply_scaler(X_eval, encoding)
        eval_set = (X_eval, task_labels(params.task, y_eval, v_table.uri)[0]) if guest else X_eval
    with build_party(spec, "train") as party, step_progress(spec, "train") as progress:
        check_same_rows(party, ids, name, timeout)
        if validation is not None:
            check_same_rows(party, v_ids, validation, timeout)
        model = HeteroNN(party=party, executor=crypto_map(spark), timeout=timeout, progress=progress,
                         **params.model_dump(include=set(HeteroNNParams.model_fields)))  # fmt: skip
        start = time.perf_counter()
        model.fit(apply_scaler(X, encoding), y if guest else None, eval_set=eval_set, feature_names=table.feature_names)
        fit_seconds = time.perf_counter() - start
        output = model.predict_output(apply_scaler(X, encoding))  # joint scores of the training rows: the guest's report
    epochs = len(model.loss_history_)
    metrics = evaluate(params.task, y, output, loss_history=model.loss_history_) if guest else None
    with atomic_output(spark, spec.outputs.dir) as out:
        model_ref = save_own_model(out, spec, "hetero_nn", model.to_dict(), list(table.feature_names), encoding, metrics)
        out.write_json("loss.json", {"loss_history": model.loss_history_, "n_iter": epochs, "fit_seconds": round(fit_seconds, 3),
                                     "epoch_seconds": round(fit_seconds / epochs, 3), "rows": len(ids)})  # fmt: skip
        result: dict[str, Any] = {"loss": model.loss_history_[-1], "n_iter": epochs, "fit_seconds": round(fit_seconds, 3)}
        if metrics is not None:
            write_evaluation(out, params.task, metrics, y, output, model.loss_history_)
            result.update(summary(params.task, metrics, "train_"))
        write_result(out, model=model_ref, metrics=result)


def train_step(spark: SparkSession, spec: TaskSpec, params: HeteroLRTrain | SecureBoostTrain | HeteroNNTrain) -> None:
    """Fit the ``params.algorithm`` model with the other parties and save this party's own part."""
    if isinstance(params, HeteroLRTrain):
        train_hetero_lr(spark, spec, params)
    elif isinstance(params, HeteroNNTrain):
        train_hetero_nn(spark, spec, params)
    else:
        train_secureboost(spark, spec, params)


def main(argv: list[str] | None = None) -> int:
    return run_step("train", train_step, argv)
