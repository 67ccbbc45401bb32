"""Align: private set intersection of every party's ids; writes each party's aligned rows.

    spark-submit spark_jobs/align.py --spec spec.yaml

Every input of the spec (or those listed in ``params.inputs``) is aligned on
its own, e.g. ``train`` and ``test``. Writes into ``outputs.dir``:

* ``aligned/<input>/``: Parquet, one file, columns ``id``, [``label``], features,
  rows in the PSI's shared order (the same at every party);
* ``intersection.json``: per input, rows, distinct ids, intersection size and timings;
* ``result.json``: ``outputs.<input>`` is the data spec of the aligned rows, so
  a downstream step given this step's outputs reads them as its inputs.

Params: ``protocol`` (``ecdh`` default, or ``rsa``: one host only),
``timeout`` (seconds to wait for a peer's message, default 600).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logging  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from airflow_provider_powerfl.algorithms.alignment import align  # noqa: E402
from airflow_provider_powerfl.exceptions import ConfigError, DataError  # noqa: E402
from airflow_provider_powerfl.taskspec import TaskSpec  # noqa: E402
from spark_jobs.common.io import ID, LABEL, Table, read_input  # noqa: E402
from spark_jobs.common.output import atomic_output  # noqa: E402
from spark_jobs.common.party import build_party, recv_timeout  # noqa: E402
from spark_jobs.common.runner import run_step  # noqa: E402
from spark_jobs.common.vertical import output_uri, param, write_result  # noqa: E402

log = logging.getLogger(__name__)

_ORDER = "_powerfl_psi_row"
PROTOCOLS = ("ecdh", "rsa")


def input_names(spec: TaskSpec) -> list[str]:
    names = spec.params.get("inputs", sorted(spec.inputs))
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"params.inputs: expected a non-empty list of input names, got {names!r}")
    return names


def align_step(spark: SparkSession, spec: TaskSpec) -> None:
    """Align this party's inputs with every other party's by PSI and write the aligned rows."""
    protocol = param(spec, "protocol", "ecdh", str)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"params.protocol: expected {'|'.join(PROTOCOLS)}, got {protocol!r}")
    timeout = recv_timeout(spec)
    names = input_names(spec)
    # every input is read and checked before this party says anything to its peers
    tables = {name: read_input(spark, spec.input(name), name=name) for name in names}
    aligned: dict[str, tuple[Table, np.ndarray]] = {}
    stats: dict[str, Any] = {}
    with build_party(spec, "align") as party:
        for name in names:
            table = tables[name]
            ids = np.asarray(table.df.select(ID).toArrow().column(ID).to_pylist(), dtype=object)
            result = align(party, ids, protocol=protocol, timeout=timeout)
            if result.size == 0:
                raise DataError(f"input {name!r} ({table.uri}): no id in common with the other parties")
            aligned[name] = (table, np.asarray(result.ids, dtype=object))
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
        for name, (table, ids) in aligned.items():
            order = spark.createDataFrame(
                [(str(v), i) for i, v in enumerate(ids)],
                T.StructType([T.StructField(ID, T.StringType()), T.StructField(_ORDER, T.LongType())]),
            )
            rows = table.df.join(order, ID).repartition(1).sortWithinPartitions(_ORDER).drop(_ORDER)
            rows.write.parquet(out.uri(f"aligned/{name}"))
            data: dict[str, Any] = {"uri": output_uri(spec, f"aligned/{name}"), "format": "parquet", "id_column": ID}
            if table.has_label:
                data["label_column"] = LABEL
            data["features"] = list(table.feature_names)
            outputs[name] = data
        out.write_json("intersection.json", {"job_id": spec.job_id, "party_id": spec.party_id, "role": spec.role, "inputs": stats})
        metrics = {f"{name}_intersection": s["intersection"] for name, s in stats.items()}
        metrics.update({f"{name}_intersection_rate": round(s["intersection_rate"], 6) for name, s in stats.items()})
        write_result(out, outputs=outputs, metrics=metrics)


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    """The PSI's own statistics, reduced to JSON scalars."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items() if isinstance(v, (int, float, str, bool))}


def main(argv: list[str] | None = None) -> int:
    return run_step("align", align_step, argv)


if __name__ == "__main__":
    sys.exit(main())
