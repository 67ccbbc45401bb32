"""Predict (and evaluate): joint scores of aligned rows with the parties' trained models.

    spark-submit spark_jobs/predict.py --spec spec.yaml

Needs aligned input (``params.input``, default ``test``): give it the outputs of
an align step run on the scoring data (the rows are checked to match across
parties before anything is scored). ``params.model`` is this party's model
reference from its train step's ``result.json`` (``{root, model_id, version}``;
the operators pass it on). Each party scores its own columns; hosts send their
partial scores to the guest, which combines them. The guest writes into ``outputs.dir``:

* ``predictions.csv``: ``id,probability[,label]`` in the aligned order;
* with labels, ``report/``: ``metrics.json`` (AUC, KS, accuracy, P/R/F1, lift, confusion matrix,
  loss curve of training) and ROC/KS/loss PNGs (evaluation.write_report);
* ``result.json``: ``outputs.predictions`` and the metrics summary (auc, ks, ...).

A host writes only ``result.json``. ``params.timeout`` as for train.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import io  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

from pyspark.sql import SparkSession  # noqa: E402

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression  # noqa: E402
from airflow_provider_powerfl.evaluation import evaluate_binary, write_report  # noqa: E402
from airflow_provider_powerfl.exceptions import DataError  # noqa: E402
from airflow_provider_powerfl.taskspec import TaskSpec  # noqa: E402
from spark_jobs.common.io import collect_arrays, read_input  # noqa: E402
from spark_jobs.common.output import atomic_output  # noqa: E402
from spark_jobs.common.party import build_party, recv_timeout  # noqa: E402
from spark_jobs.common.runner import run_step  # noqa: E402
from spark_jobs.common.vertical import (  # noqa: E402
    apply_scaler,
    binary_labels,
    check_same_rows,
    load_own_model,
    local_path,
    output_uri,
    param,
    write_result,
)

log = logging.getLogger(__name__)

SUMMARY = ("auc", "ks", "accuracy", "precision", "recall", "f1", "n", "positives")



def predict_step(spark: SparkSession, spec: TaskSpec) -> None:
    """Score aligned rows jointly; the guest writes predictions and, with labels, the evaluation report."""
    loaded = load_own_model(spec)
    name = param(spec, "input", "test", str)
    timeout = recv_timeout(spec)
    table = read_input(spark, spec.input(name), name=name)
    if list(table.feature_names) != loaded.feature_names:
        raise DataError(
            f"{table.uri}: features {list(table.feature_names)[:8]} do not match model {loaded.ref}'s {loaded.feature_names[:8]}"
        )
    ids, X, y = collect_arrays(table, sort_by_id=True)
    X = apply_scaler(X, loaded.encoding)
    if y is not None:
        y, _ = binary_labels(y, table.uri)
    with build_party(spec, "predict") as party:
        check_same_rows(party, ids, name, timeout)
        model = HeteroLogisticRegression.from_dict(loaded.state, party=party)
        model.set_params(timeout=timeout)
        proba = model.predict_proba(X)
    with atomic_output(spark, spec.outputs.dir) as out:
        if proba is None:  # a host: its partial scores went to the guest
            write_result(out)
            return
        score = proba[:, 1]
        text = io.StringIO()
        text.write("id,probability" + (",label" if y is not None else "") + "\n")
        for i, row_id in enumerate(ids):
            text.write(f"{row_id},{float(score[i])!r}" + (f",{int(y[i])}" if y is not None else "") + "\n")
        out.write_text("predictions.csv", text.getvalue())
        predictions: dict[str, Any] = {"uri": output_uri(spec, "predictions.csv"), "format": "csv", "id_column": "id", "features": ["probability"]}
        summary: dict[str, Any] = {"rows": len(ids)}
        if y is not None:
            predictions["label_column"] = "label"
            metrics = evaluate_binary(y, score, loss_history=loaded.state["loss_history"])
            write_report(local_path(out, "report"), metrics, y, score, loaded.state["loss_history"])
            summary.update({k: metrics[k] for k in SUMMARY})
            log.info("evaluation of %d rows: auc %.4f ks %.4f", len(ids), metrics["auc"], metrics["ks"])
        write_result(out, outputs={"predictions": predictions}, metrics=summary)


def main(argv: list[str] | None = None) -> int:
    return run_step("predict", predict_step, argv)


if __name__ == "__main__":
    sys.exit(main())
