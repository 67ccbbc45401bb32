"""Align: private set intersection of every party's ids; writes each party's aligned rows.

    spark-submit spark_jobs/run.py align --spec spec.yaml

Every input of the spec (or those listed in ``params.inputs``) is aligned on
its own, e.g. ``train`` and ``test``. Writes into ``outputs.dir``:

* ``aligned/<input>/``: Parquet, one file, columns ``id``, [``label``], features,
  rows in the PSI's shared order (the same at every party);
* ``intersection.json``: per input, rows, distinct ids, intersection size and timings;
* ``result.json``: ``outputs.<input>`` is the data spec of the aligned rows, so
  a downstream step given this step's outputs reads them as its inputs.

The inputs are read into the driver (as train and predict read theirs) and the aligned rows are
written from there: one Spark job per read and per write, where joining in Spark cost a cold JVM
several (a9a: 54.7 s for the step before, see docs/benchmarks/hetero_lr.md).

Params: ``protocol`` (``ecdh`` default, or ``rsa``: one host only),
``timeout`` (seconds to wait for a peer's message, default 600).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from airflow_provider_powerfl.algorithms.alignment import align
from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.params import AlignParams
from airflow_provider_powerfl.jobs.spec import TaskSpec
from spark_jobs.common.io import ID, LABEL, Table, read_arrays
from spark_jobs.common.output import atomic_output, publish_tables
from spark_jobs.common.party import build_party
from spark_jobs.common.runner import run_step
from spark_jobs.common.vertical import output_uri, write_result

log = logging.getLogger(__name__)


def align_step(spark: SparkSession, spec: TaskSpec, params: AlignParams) -> None:
    """Align this party's inputs with every other party's by PSI and write the aligned rows."""
    protocol, timeout = params.protocol, params.timeout
    names = params.inputs or sorted(spec.inputs)
    # every input is read and checked before this party says anything to its peers
    inputs = {name: read_arrays(spark, spec.input(name), name=name) for name in names}
    order: dict[str, np.ndarray] = {}  # per input: row positions in the PSI's shared order
    stats: dict[str, Any] = {}
    with build_party(spec, "align") as party:
        for name in names:
            table, ids, _, _ = inputs[name]
            result = align(party, ids, protocol=protocol, timeout=timeout)
            if result.size == 0:
                raise DataError(f"input {name!r} ({table.uri}): no id in common with the other parties")
            position = {row_id: i for i, row_id in enumerate(ids)}
            order[name] = np.fromiter((position[row_id] for row_id in result.ids), dtype=np.int64, count=result.size)
            stats[name] = {
                "uri": table.uri,
                "rows_read": table.rows_read,
                "rows": table.rows,
                "intersection": result.size,
                "intersection_rate": result.size / table.rows,
                "protocol": protocol,
                "psi": _plain(result.stats),
            }
            log.info("input %s: %d of %d rows in the intersection", name, result.size, table.rows)
    outputs: dict[str, Any] = {}
    with atomic_output(spark, spec.outputs.dir) as out:
        for name, rows in order.items():
            table, ids, X, y = inputs[name]
            aligned_frame(spark, table, ids[rows], X[rows], None if y is None else y[rows]).write.parquet(
                out.uri(f"aligned/{name}")
            )
            data: dict[str, Any] = {"uri": output_uri(spec, f"aligned/{name}"), "format": "parquet", "id_column": ID}
            if table.has_label:
                data["label_column"] = LABEL
            data["features"] = list(table.feature_names)
            outputs[name] = data
        out.write_json(
            "intersection.json", {"job_id": spec.job_id, "party_id": spec.party_id, "role": spec.role, "inputs": stats}
        )
        metrics = {f"{name}_intersection": s["intersection"] for name, s in stats.items()}
        metrics.update({f"{name}_intersection_rate": round(s["intersection_rate"], 6) for name, s in stats.items()})
        write_result(out, outputs=outputs, metrics=metrics)
    publish_tables(spark, params.output_tables, outputs)


def aligned_frame(spark: SparkSession, table: Table, ids: np.ndarray, X: np.ndarray, y: np.ndarray | None) -> DataFrame:
    """The aligned rows as one partition in the given order: ``id``, [``label``], the features as doubles.

    Built from the driver's arrays (read_arrays already holds them): Spark makes one partition per
    Arrow batch, in order, and coalesce(1) concatenates them in that order.
    """
    columns: dict[str, pa.Array] = {ID: pa.array(ids.tolist(), pa.string())}
    if y is not None:
        columns[LABEL] = pa.array(y, pa.float64())
    for j, feature in enumerate(table.feature_names):
        columns[feature] = pa.array(X[:, j], pa.float64())
    return spark.createDataFrame(pa.table(columns)).coalesce(1)


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    """The PSI's own statistics, reduced to JSON scalars."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items() if isinstance(v, (int, float, str, bool))}


def main(argv: list[str] | None = None) -> int:
    return run_step("align", align_step, argv)
