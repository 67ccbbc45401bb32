"""LIBSVM inputs (PowerFL's ``[@]<id> [<label>] idx:val ...`` lines): parsed in the JVM, or in the driver when plain."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, functions as F

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.spec import DataSpec
from spark_jobs.common.io.table import FILE_COLUMN, ID, LABEL, Arrays, id_rows, unique_rows

_INF = float("inf")
# A line the driver parses itself: printable ASCII tokens separated by spaces or tabs (after Spark's
# trim, which strips spaces only). Then str.split() splits as the JVM's \s+ does and float()/int()
# accept a subset of what the JVM's casts accept, with the same values; any other line (a tab at
# either end, a control or non-ASCII character) goes to the JVM, which has the last word.
_PLAIN_LIBSVM_LINE = re.compile(r"[!-~]+(?:[ \t]+[!-~]+)*")
_MAX_JVM_INT = 2**31 - 1  # the JVM reads a feature index as an int


def parse_libsvm_line(line: str, has_label: bool, index_base: int) -> tuple[str, float | None, list[int], list[float]]:
    """Parse PowerFL's ``[@]<id> [<label>] idx:val ...`` line into (id, label, 0-based indices, values).

    The reader parses in the JVM; this is the same grammar in Python, used to
    explain the first line the JVM refused. Raises ValueError naming the id
    and token at fault.
    """
    tokens = line.split()
    row_id = tokens[0][1:] if tokens and tokens[0].startswith("@") else (tokens[0] if tokens else "")
    if not row_id:
        raise ValueError("empty id")
    rest = tokens[1:]
    label = None
    if has_label:
        if not rest or ":" in rest[0]:
            raise ValueError(f"row id {row_id!r}: expected a label after the id")
        label = _finite(rest[0], f"row id {row_id!r}: label")
        rest = rest[1:]
    indices: list[int] = []
    values: list[float] = []
    for token in rest:
        idx_text, sep, val_text = token.partition(":")
        if not sep:
            hint = "" if has_label else " (if the lines carry a label, set label_column on the input)"
            raise ValueError(f"row id {row_id!r}: token {token!r} is not index:value{hint}")
        if not idx_text.lstrip("+-").isdigit():
            raise ValueError(f"row id {row_id!r}: feature index {idx_text!r} is not an integer")
        index = int(idx_text)
        if index < index_base:
            raise ValueError(f"row id {row_id!r}: feature index {index} is below index_base {index_base}")
        indices.append(index - index_base)
        values.append(_finite(val_text, f"row id {row_id!r}: value of feature index {index}"))
    if len(set(indices)) != len(indices):
        raise ValueError(f"row id {row_id!r}: a feature index appears twice")
    return row_id, label, indices, values


def _finite(text: str, what: str) -> float:
    try:
        if "_" in text:  # Python's float() takes "1_0"; the JVM does not
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def _not_finite(value: Column) -> Column:
    return value.isNull() | F.isnan(value) | (F.abs(value) == F.lit(_INF))


def _parse_libsvm(text: DataFrame, has_label: bool, index_base: int) -> DataFrame:
    """Columns _file, line, id, label, indices (0-based), values, bad (whether the line breaks the grammar)."""
    tokens = F.split(F.trim(F.col("value")), r"\s+")
    first = 2 if has_label else 1  # 0-based position of the first idx:val token
    pairs = F.transform(F.slice(tokens, first + 1, F.greatest(F.size(tokens) - first, F.lit(0))), lambda t: F.split(t, ":"))
    indices = F.transform(pairs, lambda p: F.try_element_at(p, F.lit(1)).try_cast("int") - F.lit(index_base))
    values = F.transform(pairs, lambda p: F.try_element_at(p, F.lit(2)).try_cast("double"))
    label = F.try_element_at(tokens, F.lit(2)).try_cast("double") if has_label else F.lit(None).cast("double")
    row_id = F.regexp_replace(F.element_at(tokens, 1), "^@", "")
    parsed = text.select(
        F.col(FILE_COLUMN), F.col("value").alias("line"), row_id.alias(ID), label.alias(LABEL),
        pairs.alias("pairs"), indices.alias("indices"), values.alias("values"),
    )  # fmt: skip
    bad = (
        (F.col(ID) == "")
        | F.exists("pairs", lambda p: F.size(p) != 2)
        | F.exists("indices", lambda i: i.isNull() | (i < 0))
        | F.exists("values", _not_finite)
        | (F.size(F.array_distinct("indices")) != F.size("indices"))
    )
    if has_label:
        bad = bad | _not_finite(F.col(LABEL))
    return parsed.withColumn("bad", bad).drop("pairs")


def read_libsvm(
    spark: SparkSession, data: DataSpec, cached: list[DataFrame]
) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
    """Returns (persisted source, dense frame, features, missing counts, rows read)."""
    text = _libsvm_text(spark, data)
    has_label = data.label_column is not None
    parsed = _parse_libsvm(text, has_label, data.index_base).persist()
    cached.append(parsed)
    stats = parsed.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("bad").cast("int")).alias("bad"),
        F.max(F.array_max("indices")).alias("top"),
    ).first()
    if not stats["rows"]:
        raise DataError(f"{data.uri}: empty input (no data lines)")
    if stats["bad"]:
        row = parsed.filter("bad").select(FILE_COLUMN, "line").first()
        try:
            parse_libsvm_line(row["line"], has_label, data.index_base)
            reason = "malformed line"
        except ValueError as exc:
            reason = str(exc)
        raise DataError(f"{row[FILE_COLUMN]}: {reason} in line {row['line'].strip()[:60]!r} ({stats['bad']} bad lines)")
    top = stats["top"]
    if data.num_features is not None:
        width = data.num_features
        if top is not None and top >= width:
            row = parsed.filter(F.array_max("indices") >= width).select(FILE_COLUMN, ID).first()
            raise DataError(
                f"{row[FILE_COLUMN]}: row id {row[ID]!r} has feature index {top + data.index_base} beyond "
                f"num_features {width} (index_base {data.index_base})"
            )
    elif top is None:
        raise DataError(f"{data.uri}: no feature appears in any line; declare num_features")
    else:
        width = top + 1
    names = _libsvm_names(width)
    return parsed, _libsvm_dense(parsed, names, has_label), names, dict.fromkeys(names, 0), stats["rows"]


def _libsvm_text(spark: SparkSession, data: DataSpec) -> DataFrame:
    """The non-blank lines (Spark's trim: spaces only) as ``value``, with the file each came from."""
    try:
        text = spark.read.text(data.uri).select("value", F.col("_metadata.file_path").alias(FILE_COLUMN))
    except AnalysisException as exc:
        raise DataError(f"{data.uri}: cannot read as libsvm: {str(exc).splitlines()[0]}") from exc
    return text.filter(F.trim(F.col("value")) != "")


def _libsvm_names(width: int) -> list[str]:
    return [f"x{k}" for k in range(width)]


def _libsvm_dense(parsed: DataFrame, names: Sequence[str], has_label: bool) -> DataFrame:
    """``id``, [``label``], one double column per feature index (absent: 0) of _parse_libsvm's rows."""
    cols = [F.col(ID)] + ([F.col(LABEL)] if has_label else [])
    # SQL text: one py4j call per column (see _numeric); Spark evaluates the shared map once per row
    cols += [F.expr(f"coalesce(map_from_arrays(indices, `values`)[{k}], 0D) AS {n}") for k, n in enumerate(names)]
    return parsed.select(*cols)


def libsvm_arrays(spark: SparkSession, data: DataSpec) -> Arrays | None:
    """read_arrays for libsvm in one Spark job, or None when read_input must judge the input."""
    text = _libsvm_text(spark, data)
    has_label, base = data.label_column is not None, data.index_base
    ids: list[str] = []
    labels: list[float] = []
    lengths: list[int] = []
    indices: list[int] = []
    values: list[float] = []
    for line in text.select("value").toArrow().column("value").to_pylist():
        stripped = line.strip(" ")
        if not _PLAIN_LIBSVM_LINE.fullmatch(stripped):
            return None
        try:
            row_id, label, row_indices, row_values = parse_libsvm_line(stripped, has_label, base)
        except ValueError:
            return None
        ids.append(row_id)
        labels.append(label)  # type: ignore[arg-type]  # a float when has_label
        lengths.append(len(row_indices))
        indices += row_indices
        values += row_values
    if not ids:
        return None
    columns = np.asarray(indices, dtype=np.int64)
    top = int(columns.max()) if columns.size else -1
    if top + base > _MAX_JVM_INT:
        return None
    width = data.num_features if data.num_features is not None else top + 1
    if width == 0 or top >= width:
        return None
    X = np.zeros((len(ids), width))
    X[np.repeat(np.arange(len(ids)), lengths), columns] = values
    names = _libsvm_names(width)
    df = _libsvm_dense(_parse_libsvm(text, has_label, base), names, has_label)
    y = np.asarray(labels, dtype=np.float64) if has_label else None
    return unique_rows(data, df, names, *id_rows(ids, X, y, sort_by_id=True))
