"""Reading a party's input into one layout: ``id`` (string), ``label`` (double, optional), features (double).

Every reader checks the data before a step sees it and raises a
:class:`DataError` naming the file and the column, line or row id at fault:
missing id/label column, a non-numeric value, a missing value (per the
input's ``missing`` policy), duplicate ids, an empty input. Federated steps
cannot recover from bad rows later: a NaN poisons every encrypted gradient of
every party, so nothing unchecked gets past this module.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial, reduce
from typing import Any

import numpy as np
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.taskspec import DataSpec

log = logging.getLogger(__name__)

ID = "id"
LABEL = "label"
_FILE = "_powerfl_file"
_CORRUPT = "_powerfl_corrupt"
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType, T.BooleanType)
_INF = float("inf")


@dataclass(frozen=True)
class Table:
    """A validated input: ``df`` has columns ``id``, [``label``], then ``feature_names`` in order."""

    df: DataFrame
    feature_names: tuple[str, ...]
    has_label: bool
    uri: str
    rows_read: int
    rows: int
    missing_counts: dict[str, int]


def read_input(spark: SparkSession, data: DataSpec, *, require_label: bool = False, name: str = "input") -> Table:
    """Read, check and normalise one input; ``name`` is its key under ``inputs`` (for errors)."""
    if require_label and data.label_column is None:
        raise ConfigError(f"inputs.{name}.label_column: missing (this party's step needs the label)")
    reader = _read_libsvm if data.format == "libsvm" else _read_tabular
    cached: list[DataFrame] = []  # unpersisted when the input is refused
    try:
        source, raw, features, missing, rows_read = reader(spark, data, cached)
        df = raw.persist()
        cached.append(df)
        rows = df.count()
        source.unpersist()
        if rows == 0:
            raise DataError(f"{data.uri}: no rows left after dropping rows with missing values")
        dup = df.groupBy(ID).count().filter(F.col("count") > 1).orderBy(ID).first()
        if dup is not None:
            raise DataError(f"{data.uri}: duplicate id {dup[ID]!r} ({dup['count']} rows)")
    except DataError:
        for frame in cached:
            frame.unpersist()
        raise
    log.info("read %s (%s): %d rows, %d features", data.uri, data.format, rows, len(features))
    return Table(df, tuple(features), data.label_column is not None, data.uri, rows_read, rows, missing)


def collect_arrays(table: Table, *, sort_by_id: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Bring a table to the driver as ``(ids, X, y)``: object array of str, float64 (n, d), float64 or None.

    Each partition is turned into numpy blocks on its executor, so only
    compact arrays cross to the driver, not one Python Row per sample.
    """
    width = len(table.feature_names)
    blocks = table.df.rdd.mapPartitions(partial(_to_block, width, table.has_label)).collect()
    if blocks:
        ids = np.concatenate([b[0] for b in blocks])
        x = np.concatenate([b[1] for b in blocks])
        y = np.concatenate([b[2] for b in blocks]) if table.has_label else None
    else:
        ids, x = np.empty(0, dtype=object), np.empty((0, width))
        y = np.empty(0) if table.has_label else None
    if sort_by_id:
        order = np.argsort(ids, kind="stable")
        ids, x = ids[order], x[order]
        y = None if y is None else y[order]
    return ids, x, y


def _to_block(width: int, has_label: bool, rows: Iterable[Any]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rows = list(rows)
    if not rows:
        return
    first = 2 if has_label else 1
    ids = np.empty(len(rows), dtype=object)
    ids[:] = [r[0] for r in rows]
    x = np.array([r[first:] for r in rows], dtype=np.float64).reshape(len(rows), width)
    y = np.array([r[1] for r in rows], dtype=np.float64) if has_label else np.empty(0)
    yield ids, x, y


# ------------------------------------------------------------------ csv / parquet
def _col(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def _load_tabular(spark: SparkSession, data: DataSpec) -> DataFrame:
    try:
        if data.format == "parquet":
            df = spark.read.parquet(data.uri)
        else:
            reader = spark.read.option("header", data.header).option("sep", data.delimiter)
            found = reader.csv(data.uri).columns
            names = list(data.columns or found)
            if len(names) != len(found):
                raise DataError(f"{data.uri}: the file has {len(found)} columns but the spec's columns name {len(names)}")
            if data.header:
                _check_header(spark, data)
            schema = T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(_CORRUPT, T.StringType())])
            df = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _CORRUPT).schema(schema).csv(data.uri)
        return df.select("*", F.col("_metadata.file_path").alias(_FILE))
    except AnalysisException as exc:
        raise DataError(f"{data.uri}: cannot read as {data.format}: {str(exc).splitlines()[0]}") from exc


def _check_header(spark: SparkSession, data: DataSpec) -> None:
    """Refuse a repeated header name (Spark would silently rename the copies ``x01``, ``x02``)."""
    first = spark.read.text(data.uri).first()
    header = next(csv.reader([first["value"]], delimiter=data.delimiter)) if first else []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{data.uri}: column {name!r} appears twice in the header")
        seen.add(name)


def _pick_columns(data: DataSpec, columns: list[str]) -> list[str]:
    listed = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    if data.id_column not in columns:
        raise DataError(f"{data.uri}: missing id column {data.id_column!r} (columns: {listed})")
    if data.label_column is not None and data.label_column not in columns:
        raise DataError(f"{data.uri}: missing label column {data.label_column!r} (columns: {listed})")
    for name in (*(data.features or ()), *data.exclude):
        if name not in columns:
            raise DataError(f"{data.uri}: missing column {name!r} named in the spec (columns: {listed})")
    if data.features is not None:
        features = list(data.features)
    else:
        taken = {data.id_column, data.label_column, *data.exclude}
        features = [c for c in columns if c not in taken]
    if not features:
        raise DataError(f"{data.uri}: no feature columns (columns: {listed})")
    for name in features:
        if name in (ID, LABEL):
            raise DataError(f"{data.uri}: feature column {name!r} clashes with the {name!r} column every step reads; exclude it")
    return features


def _numeric(df: DataFrame, name: str, data: DataSpec) -> tuple[Column, Column, Column]:
    """For one raw column: (value as double, is-missing, is-not-a-finite-number)."""
    raw = _col(name)
    dtype = df.schema[name].dataType
    if isinstance(dtype, T.StringType):
        text = F.trim(raw)
        value = text.try_cast("double")
        missing = raw.isNull() | text.isin(*data.missing_values) | F.isnan(value)
    elif isinstance(dtype, _NUMERIC):
        value = raw.cast("double")
        missing = raw.isNull() | F.isnan(value)
    else:
        raise DataError(f"{data.uri}: column {name!r} has type {dtype.simpleString()}, expected numbers")
    missing = F.coalesce(missing, F.lit(False))
    bad = ~missing & F.coalesce(value.isNull() | (F.abs(value) == F.lit(_INF)), F.lit(True))
    return value, missing, bad


def _read_tabular(spark: SparkSession, data: DataSpec, cached: list[DataFrame]) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
    """Returns (persisted source, normalised frame, features, missing counts, rows read)."""
    raw = _load_tabular(spark, data).persist()
    cached.append(raw)
    columns = [c for c in raw.columns if c not in (_FILE, _CORRUPT)]
    features = _pick_columns(data, columns)
    id_raw = _col(data.id_column).cast("string")
    id_missing = id_raw.isNull() | (F.trim(id_raw) == "")
    checked = {name: _numeric(raw, name, data) for name in features}
    label = _numeric(raw, data.label_column, data) if data.label_column is not None else None

    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(id_missing.cast("int")).alias("id_missing")]
    if _CORRUPT in raw.columns:
        aggs.append(F.sum(F.col(_CORRUPT).isNotNull().cast("int")).alias("corrupt"))
    for i, (_, miss, bad) in enumerate(checked.values()):
        aggs += [F.sum(miss.cast("int")).alias(f"m{i}"), F.sum(bad.cast("int")).alias(f"b{i}")]
    if label is not None:
        aggs += [F.sum(label[1].cast("int")).alias("label_m"), F.sum(label[2].cast("int")).alias("label_b")]
    counts = raw.agg(*aggs).first().asDict()
    rows_read = counts["rows"]
    if rows_read == 0:
        raise DataError(f"{data.uri}: empty input (no data rows)")

    def example(cond: Column, column: str | None = None) -> Any:
        cols = [id_raw.alias("_id"), F.col(_FILE)] + ([_col(column).cast("string").alias("_v")] if column else [])
        if _CORRUPT in raw.columns:
            cols.append(F.col(_CORRUPT))
        return raw.filter(cond).select(*cols).first()

    if counts.get("corrupt"):
        row = example(F.col(_CORRUPT).isNotNull())
        line = row[_CORRUPT].rstrip("\r\n")
        raise DataError(
            f"{row[_FILE]}: line {line[:80]!r} does not have the header's {len(columns)} fields ({counts['corrupt']} such lines)"
        )
    if counts["id_missing"]:
        row = example(id_missing)
        raise DataError(f"{row[_FILE]}: {counts['id_missing']} rows have no value in id column {data.id_column!r}")
    named = [(data.label_column, label, "label_m", "label_b")] if label is not None else []
    named += [(name, checked[name], f"m{i}", f"b{i}") for i, name in enumerate(features)]
    for name, (_, miss, bad), m_key, b_key in named:
        if counts[b_key]:
            row = example(bad, name)
            raise DataError(
                f"{row[_FILE]}: column {name!r} has a non-numeric value {row['_v']!r} (row id {row['_id']!r}; "
                f"{counts[b_key]} such rows)"
            )
    policy = data.missing.action
    for name, (_, miss, _bad), m_key, _ in named:
        if counts[m_key] and (policy == "error" or (policy == "fill" and name == data.label_column)):
            row = example(miss, name)
            raise DataError(
                f"{row[_FILE]}: column {name!r} has {counts[m_key]} missing values (e.g. row id {row['_id']!r}); "
                f"set missing: drop or fill:<value> on the input to accept them"
            )

    missing_counts = {name: counts[f"m{i}"] for i, name in enumerate(features)}
    kept = raw
    if policy == "drop":
        any_missing = [miss for _, (_, miss, _b), _m, _k in named]
        kept = raw.filter(~reduce(lambda a, b: a | b, any_missing))
    out = [F.trim(id_raw).alias(ID)]
    if label is not None:
        out.append(label[0].alias(LABEL))
    for name in features:
        value, miss, _ = checked[name]
        if policy == "fill":
            value = F.when(miss, F.lit(data.missing.fill_value)).otherwise(value)
        out.append(value.alias(name))
    return raw, kept.select(*out), features, missing_counts, rows_read


# ------------------------------------------------------------------ libsvm
_LIBSVM_SCHEMA = T.StructType(
    [
        T.StructField(_FILE, T.StringType()),
        T.StructField(ID, T.StringType()),
        T.StructField(LABEL, T.DoubleType()),
        T.StructField("indices", T.ArrayType(T.IntegerType())),
        T.StructField("values", T.ArrayType(T.DoubleType())),
        T.StructField("error", T.StringType()),
    ]
)


def parse_libsvm_line(line: str, has_label: bool, index_base: int) -> tuple[str, float | None, list[int], list[float]]:
    """Parse PowerFL's ``[@]<id> [<label>] idx:val ...`` line into (id, label, 0-based indices, values).

    Raises ValueError with a message naming the id and token at fault.
    """
    tokens = line.split()
    row_id = tokens[0][1:] if tokens[0].startswith("@") else tokens[0]
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
        try:
            index = int(idx_text)
        except ValueError:
            raise ValueError(f"row id {row_id!r}: feature index {idx_text!r} is not an integer") from None
        if index < index_base:
            raise ValueError(f"row id {row_id!r}: feature index {index} is below index_base {index_base}")
        indices.append(index - index_base)
        values.append(_finite(val_text, f"row id {row_id!r}: value of feature index {index}"))
    if len(set(indices)) != len(indices):
        raise ValueError(f"row id {row_id!r}: a feature index appears twice")
    return row_id, label, indices, values


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def _parse_partition(has_label: bool, index_base: int, rows: Iterable[Any]) -> Iterator[tuple]:
    for line, path in rows:
        if not line or not line.strip():
            continue
        try:
            row_id, label, indices, values = parse_libsvm_line(line, has_label, index_base)
        except ValueError as exc:
            yield path, None, None, None, None, f"{exc} in line {line.strip()[:60]!r}"
            continue
        yield path, row_id, label, indices, values, None


def _read_libsvm(spark: SparkSession, data: DataSpec, cached: list[DataFrame]) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
    """Returns (persisted source, dense frame, features, missing counts, rows read)."""
    try:
        text = spark.read.text(data.uri).select("value", F.col("_metadata.file_path").alias(_FILE))
    except AnalysisException as exc:
        raise DataError(f"{data.uri}: cannot read as libsvm: {str(exc).splitlines()[0]}") from exc
    has_label = data.label_column is not None
    rdd = text.rdd.mapPartitions(partial(_parse_partition, has_label, data.index_base))
    parsed = spark.createDataFrame(rdd, _LIBSVM_SCHEMA).persist()
    cached.append(parsed)
    stats = parsed.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("error").isNotNull().cast("int")).alias("errors"),
        F.max(F.array_max("indices")).alias("top"),
    ).first()
    if not stats["rows"]:
        raise DataError(f"{data.uri}: empty input (no data lines)")
    if stats["errors"]:
        bad = parsed.filter(F.col("error").isNotNull()).select(_FILE, "error").first()
        raise DataError(f"{bad[_FILE]}: {bad['error']} ({stats['errors']} bad lines)")
    top = stats["top"]
    if data.num_features is not None:
        width = data.num_features
        if top is not None and top >= width:
            row = parsed.filter(F.array_max("indices") >= width).select(_FILE, ID).first()
            raise DataError(
                f"{row[_FILE]}: row id {row[ID]!r} has feature index {top + data.index_base} beyond "
                f"num_features {width} (index_base {data.index_base})"
            )
    elif top is None:
        raise DataError(f"{data.uri}: no feature appears in any line; declare num_features")
    else:
        width = top + 1
    sparse = F.map_from_arrays("indices", "values")
    cols = [F.col(ID)] + ([F.col(LABEL)] if has_label else [])
    names = [f"x{k}" for k in range(width)]
    cols += [F.coalesce(sparse.getItem(k), F.lit(0.0)).alias(n) for k, n in enumerate(names)]
    return parsed, parsed.select(*cols), names, dict.fromkeys(names, 0), stats["rows"]
