"""Predict (and evaluate): joint scores of aligned rows with the parties' trained models.

    spark-submit spark_jobs/run.py predict --spec spec.yaml

Needs aligned input (``params.input``, default ``test``): give it the outputs of
an align step run on the scoring data (the rows are checked to match across
parties before anything is scored). ``params.model`` is this party's model
reference from its train step's ``result.json`` (``{root, model_id, version}``;
the operators pass it on); the model's algorithm (hetero LR or SecureBoost) picks
the scoring. Each party scores its own columns or answers for its own splits; the
guest combines. The guest writes into ``outputs.dir``:

* ``predictions.csv``: ``id``, then ``probability`` (binary), ``prediction`` and
  ``probability_<k>`` per class (multiclass) or ``prediction`` (regression), then
  ``label`` when the input has labels; rows in the aligned order;
* with labels, ``report/``: ``metrics.json`` (binary: AUC, KS, accuracy, P/R/F1, lift,
  confusion matrix and ROC/KS/loss PNGs; multiclass: accuracy, per-class P/R/F1,
  confusion matrix; regression: RMSE, MAE, R2; see docs/evaluation.md);
* ``result.json``: ``outputs.predictions`` and the metrics summary (auc, ks, ... / accuracy / rmse, ...).

A host writes only ``result.json``. ``params.timeout`` as for train.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.algorithms.hetero_nn import HeteroNN
from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.jobs.params import PredictParams
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.models import LoadedModel
from spark_jobs.common.evaluation import evaluate, output_columns, predictions_csv, summary, task_labels, write_evaluation
from spark_jobs.common.io import read_arrays
from spark_jobs.common.output import atomic_output
from spark_jobs.common.party import build_party
from spark_jobs.common.runner import run_step
from spark_jobs.common.secureboost import TASK_OF
from spark_jobs.common.vertical import apply_scaler, check_same_rows, load_own_model, output_uri, write_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """The guest's joint output: P(y=1), (n, K) class probabilities or values, for ``task``."""

    task: str
    output: np.ndarray
    loss_history: list[float] | None


def score_hetero_lr(loaded: LoadedModel, party: Party, X: np.ndarray, timeout: float) -> Scores | None:
    model = HeteroLogisticRegression.from_dict(loaded.state, party=party)
    model.set_params(timeout=timeout)
    proba = model.predict_proba(apply_scaler(X, loaded.encoding))
    return None if proba is None else Scores("binary", proba[:, 1], loaded.state["loss_history"])


def score_secureboost(loaded: LoadedModel, party: Party, X: np.ndarray, timeout: float) -> Scores | None:
    model = HeteroSecureBoost.from_dict(loaded.state, party=party)
    model.set_params(timeout=timeout)
    raw = model.decision_function(X)
    return None if raw is None else Scores(TASK_OF[model.objective_.name], model.objective_.transform(raw), None)


def score_hetero_nn(loaded: LoadedModel, party: Party, X: np.ndarray, timeout: float) -> Scores | None:
    model = HeteroNN.from_dict(loaded.state, party=party)
    model.set_params(timeout=timeout)
    output = model.predict_output(apply_scaler(X, loaded.encoding))
    return None if output is None else Scores(model.task, output, loaded.state["loss_history"])


SCORERS: dict[str, Callable[[LoadedModel, Party, np.ndarray, float], Scores | None]] = {
    "hetero_lr": score_hetero_lr,
    "secureboost": score_secureboost,
    "hetero_nn": score_hetero_nn,
}


def predict_step(spark: SparkSession, spec: TaskSpec, params: PredictParams) -> None:
    """Score aligned rows jointly; the guest writes predictions and, with labels, the evaluation report."""
    loaded = load_own_model(spec, params.model)
    if loaded.algorithm not in SCORERS:
        raise ConfigError(f"params.model: {loaded.ref} is a {loaded.algorithm!r} model; this step scores {'|'.join(SCORERS)}")
    name, timeout = params.input, params.timeout
    table, ids, X, y = read_arrays(spark, spec.input(name), name=name)
    if list(table.feature_names) != loaded.feature_names:
        raise DataError(
            f"{table.uri}: features {list(table.feature_names)[:8]} do not match model {loaded.ref}'s {loaded.feature_names[:8]}"
        )
    with build_party(spec, "predict") as party:
        check_same_rows(party, ids, name, timeout)
        scores = SCORERS[loaded.algorithm](loaded, party, X, timeout)
    with atomic_output(spark, spec.outputs.dir) as out:
        if scores is None:  # a host: it answered for its own part
            write_result(out)
            return
        if y is not None:
            y, _ = task_labels(scores.task, y, table.uri)
        columns = output_columns(scores.task, scores.output)
        out.write_text("predictions.csv", predictions_csv(ids, columns, y))
        predictions: dict[str, Any] = {
            "uri": output_uri(spec, "predictions.csv"),
            "format": "csv",
            "id_column": "id",
            "features": list(columns),
        }
        result: dict[str, Any] = {"rows": len(ids)}
        if y is not None:
            predictions["label_column"] = "label"
            metrics = evaluate(scores.task, y, scores.output, loss_history=scores.loss_history)
            write_evaluation(out, scores.task, metrics, y, scores.output, scores.loss_history)
            result.update(summary(scores.task, metrics))
            log.info("evaluation of %d rows: %s", len(ids), {k: v for k, v in result.items() if isinstance(v, float)})
        write_result(out, outputs={"predictions": predictions}, metrics=result)


def main(argv: list[str] | None = None) -> int:
    return run_step("predict", predict_step, argv)
