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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.jobs.spec import DataSpec

log = logging.getLogger(__name__)

ID = "id"
LABEL = "label"
_FILE = "_powerfl_file"
_CORRUPT = "_powerfl_corrupt"
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType, T.BooleanType)
_INF = float("inf")


@dataclass(frozen=True)
class Table:
    """A validated input: ``df`` has columns ``id``, [``label``], then ``feature_names`` in order.

    From read_input ``df`` is persisted (the checks already computed it; unpersist it when done); from
    read_arrays' one-job path it is the lazy frame, its rows already in the driver.
    """

    df: DataFrame
    feature_names: tuple[str, ...]
    has_label: bool
    uri: str
    rows_read: int
    rows: int
    missing_counts: dict[str, int]


def read_input(spark: SparkSession, data: DataSpec, *, require_label: bool = False, name: str = "input") -> Table:
    """Read, check and normalise one input; ``name`` is its key under ``inputs`` (for errors)."""
    _check_label_wanted(data, require_label, name)
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
            raise _duplicate_id(data, dup[ID], dup["count"])
    except DataError:
        for frame in cached:
            frame.unpersist()
        raise
    _log_read(data, rows, len(features))
    return Table(df, tuple(features), data.label_column is not None, data.uri, rows_read, rows, missing)


def read_arrays(spark: SparkSession, data: DataSpec, *, require_label: bool = False, name: str = "input") -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """An input as ``(table, ids, X, y)`` sorted by id, for a step that works on it in the driver.

    The same checks and errors as :func:`read_input` then :func:`collect_arrays`. A clean
    csv/parquet input under the default ``missing: error`` costs one Spark job that collects its
    values as doubles; the rules then run in numpy on what came back. Every cell the rules flag
    (missing, non-numeric, infinite) arrives as a null, NaN or infinity, every row without an id
    as an empty id, a malformed csv line as a set corrupt-record flag. A libsvm input costs one
    Spark job that collects its lines; they are parsed here by :func:`parse_libsvm_line` when every
    line is plain (printable ASCII tokens, see ``_libsvm_arrays``). Anything flagged, an empty
    input, another missing policy, a missing token that parses as a number, and a libsvm line that
    is not plain or does not parse take read_input's path, so their errors and policies are exactly
    its. Why: in a step's fresh JVM read_input's four Spark actions (their planning and code
    generation, most of all the 150-term check of a 74-column input) took 12-13 s for a 32k x 74
    Parquet, this path 4-5 s; for a9a's 32k-line libsvm files 10-14 s against ~2 s.
    """
    _check_label_wanted(data, require_label, name)
    if data.format == "libsvm":
        fast = _libsvm_arrays(spark, data)
        if fast is not None:
            return fast
    elif data.missing.action == "error" and not any(_is_finite_number(v) for v in data.missing_values):
        plan = _tabular_columns(_load_tabular(spark, data), data)
        corrupt = [F.col(_CORRUPT).isNotNull().alias(_CORRUPT)] if _CORRUPT in plan.raw.columns else []
        arrow = plan.raw.select(*plan.columns(), *corrupt).toArrow()
        if arrow.num_rows and not _flagged(arrow):
            ids, X, y = _arrays(arrow, plan.features, plan.label is not None, sort_by_id=True)
            return _unique_rows(data, plan.normalised(), plan.features, ids, X, y)
    table = read_input(spark, data, require_label=require_label, name=name)
    return (table, *collect_arrays(table, sort_by_id=True))


def _unique_rows(data: DataSpec, df: DataFrame, features: Sequence[str], ids: np.ndarray, X: np.ndarray, y: np.ndarray | None) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """read_arrays' result from clean rows sorted by id, refused with read_input's error if an id repeats."""
    duplicated = ids[1:][ids[1:] == ids[:-1]]
    if len(duplicated):
        first = min(duplicated)
        raise _duplicate_id(data, first, int(np.sum(ids == first)))
    _log_read(data, len(ids), len(features))
    table = Table(df, tuple(features), y is not None, data.uri, len(ids), len(ids), dict.fromkeys(features, 0))
    return table, ids, X, y


def _flagged(arrow: pa.Table) -> bool:
    """Whether any row of a collected csv/parquet input breaks a rule (see read_arrays)."""
    ids = arrow.column(ID)
    if ids.null_count or pc.any(pc.equal(ids, "")).as_py():
        return True
    if _CORRUPT in arrow.column_names and pc.any(arrow.column(_CORRUPT)).as_py():
        return True
    values = [arrow.column(n) for n in arrow.column_names if n not in (ID, _CORRUPT)]
    return any(v.null_count or not pc.all(pc.is_finite(v)).as_py() for v in values)


def _is_finite_number(text: str) -> bool:
    """Whether a missing token reads as a number (e.g. -999): such a cell collects as that number, not a flag."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _duplicate_id(data: DataSpec, row_id: str, count: int) -> DataError:
    return DataError(f"{data.uri}: duplicate id {row_id!r} ({count} rows)")


def _log_read(data: DataSpec, rows: int, n_features: int) -> None:
    log.info("read %s (%s): %d rows, %d features", data.uri, data.format, rows, n_features)


def _check_label_wanted(data: DataSpec, require_label: bool, name: str) -> None:
    if require_label and data.label_column is None:
        raise ConfigError(f"inputs.{name}.label_column: missing (this party's step needs the label)")


def collect_arrays(table: Table, *, sort_by_id: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Bring a table to the driver as ``(ids, X, y)``: object array of str, float64 (n, d), float64 or None.

    Collected as Arrow record batches, one stream per partition in partition
    order, so only columnar buffers cross to the driver, not a Python Row per sample.
    """
    return _arrays(table.df.toArrow(), table.feature_names, table.has_label, sort_by_id=sort_by_id)


def _arrays(arrow: pa.Table, feature_names: Sequence[str], has_label: bool, *, sort_by_id: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ids = arrow.column(ID).to_pylist()
    columns = [arrow.column(name).to_numpy().astype(np.float64, copy=False) for name in feature_names]
    x = np.column_stack(columns) if columns else np.empty((arrow.num_rows, 0))
    y = arrow.column(LABEL).to_numpy().astype(np.float64, copy=False) if has_label else None
    return _id_rows(ids, x, y, sort_by_id=sort_by_id)


def _id_rows(ids: list[str], x: np.ndarray, y: np.ndarray | None, *, sort_by_id: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(ids as an object array of str, x, y)``, rows sorted by id if asked."""
    row_ids = np.empty(len(ids), dtype=object)
    row_ids[:] = ids
    if not sort_by_id:
        return row_ids, x, y
    order = np.argsort(row_ids, kind="stable")
    return row_ids[order], x[order], None if y is None else y[order]


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


def _sql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _numeric(schema: T.StructType, name: str, data: DataSpec) -> tuple[str, str, str]:
    """For one raw column, as Spark SQL: (value as double, is-missing, is-not-a-finite-number).

    SQL text, not Column objects: a Column expression costs a py4j round trip per function
    (~100 per column here, 7 s for 74 columns), a SQL string one.
    """
    raw = _sql_name(name)
    dtype = schema[name].dataType
    if isinstance(dtype, T.StringType):
        value = f"try_cast(trim({raw}) AS DOUBLE)"
        listed = f" OR trim({raw}) IN ({', '.join(map(_sql_text, data.missing_values))})" if data.missing_values else ""
        missing = f"{raw} IS NULL{listed} OR isnan({value})"
    elif isinstance(dtype, _NUMERIC):
        value = f"CAST({raw} AS DOUBLE)"
        missing = f"{raw} IS NULL OR isnan({value})"
    else:
        raise DataError(f"{data.uri}: column {name!r} has type {dtype.simpleString()}, expected numbers")
    missing = f"coalesce({missing}, false)"
    bad = f"(NOT {missing} AND coalesce({value} IS NULL OR abs({value}) = CAST('Infinity' AS DOUBLE), true))"
    return value, missing, bad


@dataclass(frozen=True)
class _TabularColumns:
    """A csv/parquet source's columns as Spark SQL, before any Spark action: per column (value, missing, bad)."""

    data: DataSpec
    raw: DataFrame
    source_columns: list[str]  # the file's own columns
    features: list[str]
    checked: dict[str, tuple[str, str, str]]
    label: tuple[str, str, str] | None
    id_raw: Column

    @property
    def id_missing(self) -> Column:
        return self.id_raw.isNull() | (F.trim(self.id_raw) == "")

    @property
    def flags(self) -> dict[str, str]:
        """m<i>/b<i> per feature, label_m/label_b: a cell missing or not a finite number."""
        flags = {f"m{i}": miss for i, (_, miss, _b) in enumerate(self.checked.values())}
        flags.update({f"b{i}": bad for i, (_, _m, bad) in enumerate(self.checked.values())})
        if self.label is not None:
            flags.update(label_m=self.label[1], label_b=self.label[2])
        return flags

    def normalised(self, frame: DataFrame | None = None) -> DataFrame:
        """``frame`` (default: raw) as ``id``, [``label``], features as doubles (missing ones filled under ``missing: fill``)."""
        return (self.raw if frame is None else frame).select(*self.columns())

    def columns(self) -> list[Column]:
        out = [F.trim(self.id_raw).alias(ID)]
        if self.label is not None:
            out.append(F.expr(f"{self.label[0]} AS {LABEL}"))
        for name in self.features:
            value, miss, _ = self.checked[name]
            if self.data.missing.action == "fill":
                value = f"CASE WHEN {miss} THEN CAST('{float(self.data.missing.fill_value)!r}' AS DOUBLE) ELSE {value} END"
            out.append(F.expr(f"{value} AS {_sql_name(name)}"))
        return out


def _tabular_columns(raw: DataFrame, data: DataSpec) -> _TabularColumns:
    columns = [c for c in raw.columns if c not in (_FILE, _CORRUPT)]
    features = _pick_columns(data, columns)
    id_raw = _col(data.id_column).cast("string")
    schema = raw.schema  # once: each DataFrame.schema is a round trip to the JVM (~0.1 s)
    checked = {name: _numeric(schema, name, data) for name in features}
    label = _numeric(schema, data.label_column, data) if data.label_column is not None else None
    return _TabularColumns(data, raw, columns, features, checked, label, id_raw)


def _read_tabular(spark: SparkSession, data: DataSpec, cached: list[DataFrame]) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
    """Returns (persisted source, normalised frame, features, missing counts, rows read)."""
    raw = _load_tabular(spark, data).persist()
    cached.append(raw)
    plan = _tabular_columns(raw, data)
    features, checked, label, id_raw, id_missing, flags = plan.features, plan.checked, plan.label, plan.id_raw, plan.id_missing, plan.flags

    def count_of(cond: str, alias: str) -> Column:
        return F.expr(f"sum(CAST(({cond}) AS INT)) AS {alias}")

    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(id_missing.cast("int")).alias("id_missing")]
    if _CORRUPT in raw.columns:
        aggs.append(F.sum(F.col(_CORRUPT).isNotNull().cast("int")).alias("corrupt"))
    # clean data (the usual case) costs one OR over every cell; the per-column counts only when a cell is flagged:
    # Spark compiles 150 aggregates of a 74-column input into a method too large to JIT (7 s cold, 3.5 s warm)
    counts = raw.agg(*aggs, count_of(" OR ".join(flags.values()), "flagged")).first().asDict()
    if counts["flagged"]:
        counts.update(raw.agg(*(count_of(cond, key) for key, cond in flags.items())).first().asDict())
    else:
        counts.update(dict.fromkeys(flags, 0))
    rows_read = counts["rows"]
    if rows_read == 0:
        raise DataError(f"{data.uri}: empty input (no data rows)")

    def example(cond: Column | str, column: str | None = None) -> Any:
        cols = [id_raw.alias("_id"), F.col(_FILE)] + ([_col(column).cast("string").alias("_v")] if column else [])
        if _CORRUPT in raw.columns:
            cols.append(F.col(_CORRUPT))
        return raw.filter(F.expr(cond) if isinstance(cond, str) else cond).select(*cols).first()

    if counts.get("corrupt"):
        row = example(F.col(_CORRUPT).isNotNull())
        line = row[_CORRUPT].rstrip("\r\n")
        raise DataError(
            f"{row[_FILE]}: line {line[:80]!r} does not have the header's {len(plan.source_columns)} fields ({counts['corrupt']} such lines)"
        )
    if counts["id_missing"]:
        row = example(id_missing)
        raise DataError(f"{row[_FILE]}: {counts['id_missing']} rows have no value in id column {data.id_column!r}")
    named = [(data.label_column, label, "label_m", "label_b")] if label is not None else []
    named += [(name, checked[name], f"m{i}", f"b{i}") for i, name in enumerate(features)]
    for name, (_v, _m, bad), _mk, b_key in named:
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
        kept = raw.filter(F.expr("NOT (" + " OR ".join(miss for _, (_, miss, _b), _m, _k in named) + ")"))
    return raw, plan.normalised(kept), features, missing_counts, rows_read


# ------------------------------------------------------------------ libsvm
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
        F.col(_FILE), F.col("value").alias("line"), row_id.alias(ID), label.alias(LABEL),
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


def _read_libsvm(spark: SparkSession, data: DataSpec, cached: list[DataFrame]) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
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
        row = parsed.filter("bad").select(_FILE, "line").first()
        try:
            parse_libsvm_line(row["line"], has_label, data.index_base)
            reason = "malformed line"
        except ValueError as exc:
            reason = str(exc)
        raise DataError(f"{row[_FILE]}: {reason} in line {row['line'].strip()[:60]!r} ({stats['bad']} bad lines)")
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
    names = _libsvm_names(width)
    return parsed, _libsvm_dense(parsed, names, has_label), names, dict.fromkeys(names, 0), stats["rows"]


def _libsvm_text(spark: SparkSession, data: DataSpec) -> DataFrame:
    """The non-blank lines (Spark's trim: spaces only) as ``value``, with the file each came from."""
    try:
        text = spark.read.text(data.uri).select("value", F.col("_metadata.file_path").alias(_FILE))
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


# A line the driver parses itself: printable ASCII tokens separated by spaces or tabs (after Spark's
# trim, which strips spaces only). Then str.split() splits as the JVM's \s+ does and float()/int()
# accept a subset of what the JVM's casts accept, with the same values; any other line (a tab at
# either end, a control or non-ASCII character) goes to the JVM, which has the last word.
_PLAIN_LIBSVM_LINE = re.compile(r"[!-~]+(?:[ \t]+[!-~]+)*")
_MAX_JVM_INT = 2**31 - 1  # the JVM reads a feature index as an int


def _libsvm_arrays(spark: SparkSession, data: DataSpec) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None] | None:
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
    return _unique_rows(data, df, names, *_id_rows(ids, X, y, sort_by_id=True))
