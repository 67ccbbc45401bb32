"""CSV, Parquet, ORC and Hive-table inputs: named columns, checked in the JVM as Spark SQL text before any row reaches a step."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, functions as F, types as T

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.spec import DataSpec
from spark_jobs.common.io.table import CORRUPT_COLUMN, FILE_COLUMN, ID, LABEL

_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType, T.BooleanType)


def _col(name: str) -> Column:
    return F.col(_sql_name(name))


def load_tabular(spark: SparkSession, data: DataSpec) -> DataFrame:
    try:
        if data.format == "hive":  # a metastore table (the session needs spark.sql.catalogImplementation=hive)
            return spark.table(data.uri.removeprefix("hive://")).select("*", F.lit(data.uri).alias(FILE_COLUMN))
        if data.format in ("parquet", "orc"):
            df = spark.read.format(data.format).load(data.uri)
        else:
            reader = spark.read.option("header", data.header).option("sep", data.delimiter)
            found = reader.csv(data.uri).columns
            names = list(data.columns or found)
            if len(names) != len(found):
                raise DataError(f"{data.uri}: the file has {len(found)} columns but the spec's columns name {len(names)}")
            if data.header:
                _check_header(spark, data)
            schema = T.StructType(
                [T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT_COLUMN, T.StringType())]
            )
            df = (
                reader.option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
                .schema(schema)
                .csv(data.uri)
            )
        return df.select("*", F.col("_metadata.file_path").alias(FILE_COLUMN))
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
class TabularColumns:
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


def tabular_columns(raw: DataFrame, data: DataSpec) -> TabularColumns:
    columns = [c for c in raw.columns if c not in (FILE_COLUMN, CORRUPT_COLUMN)]
    features = _pick_columns(data, columns)
    id_raw = _col(data.id_column).cast("string")
    schema = raw.schema  # once: each DataFrame.schema is a round trip to the JVM (~0.1 s)
    checked = {name: _numeric(schema, name, data) for name in features}
    label = _numeric(schema, data.label_column, data) if data.label_column is not None else None
    return TabularColumns(data, raw, columns, features, checked, label, id_raw)


# per checked column: (name, (value, missing, bad) SQL, key of its missing count, key of its bad count)
_Named = tuple[str, tuple[str, str, str], str, str]


def read_tabular(
    spark: SparkSession, data: DataSpec, cached: list[DataFrame]
) -> tuple[DataFrame, DataFrame, list[str], dict[str, int], int]:
    """Returns (persisted source, normalised frame, features, missing counts, rows read)."""
    raw = load_tabular(spark, data).persist()
    cached.append(raw)
    plan = tabular_columns(raw, data)
    counts = _counts(plan)
    if counts["rows"] == 0:
        raise DataError(f"{data.uri}: empty input (no data rows)")
    named: list[_Named] = [(data.label_column, plan.label, "label_m", "label_b")] if plan.label is not None else []
    named += [(name, plan.checked[name], f"m{i}", f"b{i}") for i, name in enumerate(plan.features)]
    _refuse_bad_rows(plan, counts, named)
    missing_counts = {name: counts[f"m{i}"] for i, name in enumerate(plan.features)}
    kept = raw
    if data.missing.action == "drop":
        kept = raw.filter(F.expr("NOT (" + " OR ".join(miss for _, (_, miss, _b), _m, _k in named) + ")"))
    return raw, plan.normalised(kept), plan.features, missing_counts, counts["rows"]


def _count_of(cond: str, alias: str) -> Column:
    return F.expr(f"sum(CAST(({cond}) AS INT)) AS {alias}")


def _counts(plan: TabularColumns) -> dict[str, int]:
    """rows, id_missing, [corrupt], and per flag of ``plan.flags`` its count of rows."""
    raw, flags = plan.raw, plan.flags
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(plan.id_missing.cast("int")).alias("id_missing")]
    if CORRUPT_COLUMN in raw.columns:
        aggs.append(F.sum(F.col(CORRUPT_COLUMN).isNotNull().cast("int")).alias("corrupt"))
    # clean data (the usual case) costs one OR over every cell; the per-column counts only when a cell is flagged:
    # Spark compiles 150 aggregates of a 74-column input into a method too large to JIT (7 s cold, 3.5 s warm)
    counts = raw.agg(*aggs, _count_of(" OR ".join(flags.values()), "flagged")).first().asDict()
    if counts["flagged"]:
        counts.update(raw.agg(*(_count_of(cond, key) for key, cond in flags.items())).first().asDict())
    else:
        counts.update(dict.fromkeys(flags, 0))
    return counts


def _example(plan: TabularColumns, cond: Column | str, column: str | None = None) -> Any:
    """The first row where ``cond`` holds: its raw id, file, [``column``'s value as text] and corrupt line."""
    cols = [plan.id_raw.alias("_id"), F.col(FILE_COLUMN)] + ([_col(column).cast("string").alias("_v")] if column else [])
    if CORRUPT_COLUMN in plan.raw.columns:
        cols.append(F.col(CORRUPT_COLUMN))
    return plan.raw.filter(F.expr(cond) if isinstance(cond, str) else cond).select(*cols).first()


def _refuse_bad_rows(plan: TabularColumns, counts: dict[str, int], named: list[_Named]) -> None:
    """Raise the DataError of the first rule broken: a corrupt line, a missing id, a bad value, a refused missing value."""
    data = plan.data
    if counts.get("corrupt"):
        row = _example(plan, F.col(CORRUPT_COLUMN).isNotNull())
        line = row[CORRUPT_COLUMN].rstrip("\r\n")
        raise DataError(
            f"{row[FILE_COLUMN]}: line {line[:80]!r} does not have the header's {len(plan.source_columns)} fields ({counts['corrupt']} such lines)"
        )
    if counts["id_missing"]:
        row = _example(plan, plan.id_missing)
        raise DataError(f"{row[FILE_COLUMN]}: {counts['id_missing']} rows have no value in id column {data.id_column!r}")
    for name, (_v, _m, bad), _mk, b_key in named:
        if counts[b_key]:
            row = _example(plan, bad, name)
            raise DataError(
                f"{row[FILE_COLUMN]}: column {name!r} has a non-numeric value {row['_v']!r} (row id {row['_id']!r}; "
                f"{counts[b_key]} such rows)"
            )
    policy = data.missing.action
    for name, (_, miss, _bad), m_key, _ in named:
        if counts[m_key] and (policy == "error" or (policy == "fill" and name == data.label_column)):
            row = _example(plan, miss, name)
            raise DataError(
                f"{row[FILE_COLUMN]}: column {name!r} has {counts[m_key]} missing values (e.g. row id {row['_id']!r}); "
                f"set missing: drop or fill:<value> on the input to accept them"
            )
