"""Inspect a party's inputs: validate them and write per-feature statistics.

    spark-submit spark_jobs/run.py inspect_data --spec spec.yaml

Writes ``statistics.json`` into the spec's outputs dir. Every input of the
spec is read, or only those listed in ``params.inputs``. The statistics are
of the values a step would use (after the input's missing policy);
``missing_rate`` is the share of the file's rows whose value was missing.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession, functions as F

from airflow_provider_powerfl.jobs.params import InspectDataParams
from airflow_provider_powerfl.jobs.spec import TaskSpec
from spark_jobs.common.io import LABEL, Table, read_input
from spark_jobs.common.output import atomic_output
from spark_jobs.common.runner import run_step

MAX_CLASSES = 32


def inspect_data(spark: SparkSession, spec: TaskSpec, params: InspectDataParams) -> None:
    """Validate this party's inputs and write per-feature statistics."""
    names = params.inputs or sorted(spec.inputs)
    report = {"job_id": spec.job_id, "attempt": spec.attempt, "party_id": spec.party_id, "role": spec.role, "inputs": {}}
    for name in names:
        table = read_input(spark, spec.input(name), name=name)
        report["inputs"][name] = statistics(table)
    with atomic_output(spark, spec.outputs.dir) as out:
        out.write_json("statistics.json", report)


def statistics(table: Table) -> dict[str, Any]:
    """count, mean, sample std, min, max and missing rate of every feature (and the label)."""
    columns = list(table.feature_names) + ([LABEL] if table.has_label else [])
    aggs = []
    for i, name in enumerate(columns):
        col = F.col(f"`{name}`")
        aggs += [
            F.count(col).alias(f"n{i}"),
            F.avg(col).alias(f"mean{i}"),
            F.stddev_samp(col).alias(f"std{i}"),
            F.min(col).alias(f"min{i}"),
            F.max(col).alias(f"max{i}"),
        ]
    row = table.df.agg(*aggs).first()

    def summary(i: int, name: str) -> dict[str, Any]:
        std = row[f"std{i}"]
        return {
            "count": row[f"n{i}"],
            "mean": row[f"mean{i}"],
            "std": None if std is None or std != std else std,
            "min": row[f"min{i}"],
            "max": row[f"max{i}"],
            "missing_rate": table.missing_counts.get(name, 0) / table.rows_read,
        }

    out: dict[str, Any] = {
        "uri": table.uri,
        "rows_read": table.rows_read,
        "rows": table.rows,
        "features": {name: summary(i, name) for i, name in enumerate(table.feature_names)},
    }
    if table.has_label:
        label = summary(len(table.feature_names), LABEL)
        classes = table.df.groupBy(LABEL).count().orderBy(LABEL).limit(MAX_CLASSES + 1).collect()
        if len(classes) <= MAX_CLASSES:
            label["classes"] = {repr(r[LABEL]): r["count"] for r in classes}
        out["label"] = label
    return out


def main(argv: list[str] | None = None) -> int:
    return run_step("inspect_data", inspect_data, argv, federated=False)
