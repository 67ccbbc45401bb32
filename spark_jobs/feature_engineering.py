"""Feature engineering: fit this party's transforms (binning with federated WOE/IV, selection, scaling) or apply them.

    spark-submit spark_jobs/run.py feature_engineering --spec spec.yaml

``params.mode``:

* ``fit`` (default): fits on input ``params.input`` (default ``train``; aligned rows, checked
  to match across parties when a federated stage runs) the stages ``params.filter``
  (missing_rate_max, variance_min, unique_min), ``params.binning`` (method, n_bins,
  adjustment_factor, shuffle_bins, key_length: WOE/IV of every party's features from the
  guest's encrypted labels), ``params.select`` (IV selection across parties: method
  threshold|top_k|percentile, threshold, k, percentile; the guest decides) and
  ``params.transform`` (none|woe|bin|standard|minmax|onehot, with
  ``params.transform_options``); then transforms every input in ``params.inputs`` (default:
  the fitted one).
* ``apply``: ``params.model`` is this party's model reference from a fit run's
  ``result.json``; transforms every input in ``params.inputs`` (default: all) locally, no peer.

Writes into ``outputs.dir``: ``data/<input>/`` (Parquet: ``id``, [``label``], transformed
features, rows sorted by id), fit only: ``model/`` (models.save_model, algorithm
``feature_engineering``), ``statistics.json`` (per-feature statistics of the fitted input),
``woe_iv.json`` (this party's IV and WOE per feature; the guest adds the hosts' IVs by feature
index), and ``result.json`` (``outputs.<input>`` data specs, ``model`` reference, metrics).
``params.timeout`` as for train.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from airflow_provider_powerfl.algorithms.feature_engineering import FeaturePipeline, feature_statistics
from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.params import FeatureEngineeringParams
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.models import save_model
from spark_jobs.common.executor import spark_chunk_map
from spark_jobs.common.io import ID, LABEL, read_arrays
from spark_jobs.common.output import Staging, atomic_output, publish_tables
from spark_jobs.common.party import build_party
from spark_jobs.common.runner import run_step
from spark_jobs.common.vertical import (
    binary_labels,
    check_same_rows,
    load_own_model,
    local_path,
    output_uri,
    write_result,
)

log = logging.getLogger(__name__)

ALGORITHM = "feature_engineering"
MODES = ("fit", "apply")
STAGES = ("filter", "binning", "select")


def feature_engineering_step(spark: SparkSession, spec: TaskSpec, params: FeatureEngineeringParams) -> None:
    """Fit this party's feature transforms with the other parties, or apply fitted ones."""
    if params.mode == "fit":
        _fit(spark, spec, params)
    else:
        _apply(spark, spec, params)


def _fit(spark: SparkSession, spec: TaskSpec, params: FeatureEngineeringParams) -> None:
    name = params.input
    names = params.inputs or [name]
    timeout = params.timeout
    settings = {stage: getattr(params, stage) for stage in STAGES}
    pipeline = FeaturePipeline(
        filter=settings["filter"],
        binning=settings["binning"],
        select=settings["select"],
        transform=params.transform,
        transform_options=params.transform_options,
        executor=spark_chunk_map(spark.sparkContext),
        timeout=timeout,
    )
    guest = spec.role == "guest"
    federated = settings["binning"] is not None
    # sorted by id: the same order at every party of an aligned input
    table, ids, X, y = read_arrays(spark, spec.input(name), require_label=guest and federated, name=name)
    labels = binary_labels(y, table.uri)[0] if guest and federated else None
    features = list(table.feature_names)
    start = time.perf_counter()
    if federated:
        with build_party(spec, "feature_engineering") as party:
            check_same_rows(party, ids, name, timeout)
            pipeline.party = party
            pipeline.fit(X, labels, features)
    else:
        pipeline.fit(X, labels, features)
    fit_seconds = time.perf_counter() - start
    log.info(
        "fitted feature engineering on %s in %.1f s: %d -> %d features",
        name,
        fit_seconds,
        len(features),
        len(pipeline.feature_names_out_),
    )
    report = pipeline.report()

    with atomic_output(spark, spec.outputs.dir) as out:
        outputs = {n: _write_transformed(spark, spec, out, n, pipeline, (table, ids, X, y) if n == name else None) for n in names}
        ref = save_model(
            local_path(out, "model"), job_id=spec.job_id, party_id=spec.party_id, role=spec.role, algorithm=ALGORITHM,
            model_state=pipeline.to_dict(), feature_names=features, encoding={"features_out": pipeline.feature_names_out_},
        )  # fmt: skip
        out.write_json("statistics.json", {"party_id": spec.party_id, "input": name, "features": feature_statistics(X, features)})
        out.write_json("woe_iv.json", {"party_id": spec.party_id, "role": spec.role, **report})
        metrics: dict[str, Any] = {
            "features_in": len(features),
            "features_out": len(pipeline.feature_names_out_),
            "fit_seconds": round(fit_seconds, 3),
        }
        if "features" in report:
            metrics["max_iv"] = round(max((f["iv"] for f in report["features"].values()), default=0.0), 6)
        model_ref = {"root": output_uri(spec, "model"), "model_id": ref.model_id, "version": ref.version, "algorithm": ALGORITHM}
        write_result(out, outputs=outputs, model=model_ref, metrics=metrics)
    table.df.unpersist()
    publish_tables(spark, params.output_tables, outputs)


def _apply(spark: SparkSession, spec: TaskSpec, params: FeatureEngineeringParams) -> None:
    loaded = load_own_model(spec, params.model, ALGORITHM)
    pipeline = FeaturePipeline.from_dict(loaded.state)
    names = params.inputs or sorted(spec.inputs)
    with atomic_output(spark, spec.outputs.dir) as out:
        outputs = {n: _write_transformed(spark, spec, out, n, pipeline, None) for n in names}
        write_result(
            out,
            outputs=outputs,
            model=params.model.model_dump(exclude_none=True),
            metrics={"features_out": len(pipeline.feature_names_out_), "inputs": len(names)},
        )
    publish_tables(spark, params.output_tables, outputs)


def _write_transformed(
    spark: SparkSession, spec: TaskSpec, out: Staging, name: str, pipeline: FeaturePipeline, read: tuple[Any, ...] | None
) -> dict[str, Any]:
    """Transform input ``name`` and write it as Parquet under ``data/<name>``; its data spec for result.json."""
    if read is None:
        table, ids, X, y = read_arrays(spark, spec.input(name), name=name)
    else:
        table, ids, X, y = read
    if list(table.feature_names) != pipeline.feature_names_in_:
        raise DataError(
            f"{table.uri}: features {list(table.feature_names)[:8]} differ from the fitted {pipeline.feature_names_in_[:8]}"
        )
    Z = pipeline.apply(X)
    columns: dict[str, Any] = {ID: pa.array(ids.tolist(), pa.string())}
    if y is not None:
        columns[LABEL] = pa.array(y, pa.float64())
    for j, feature in enumerate(pipeline.feature_names_out_):
        columns[feature] = pa.array(np.ascontiguousarray(Z[:, j]), pa.float64())
    spark.createDataFrame(pa.table(columns)).coalesce(1).write.parquet(out.uri(f"data/{name}"))
    table.df.unpersist()
    data: dict[str, Any] = {"uri": output_uri(spec, f"data/{name}"), "format": "parquet", "id_column": ID}
    if y is not None:
        data["label_column"] = LABEL
    data["features"] = list(pipeline.feature_names_out_)
    return data


def main(argv: list[str] | None = None) -> int:
    return run_step("feature_engineering", feature_engineering_step, argv)
