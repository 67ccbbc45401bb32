"""The two ways a step reads an input: :func:`read_input` (a checked Spark frame) and :func:`read_arrays` (arrays in the driver)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession, functions as F

from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.jobs.spec import DataSpec
from spark_jobs.common.io.libsvm import libsvm_arrays, read_libsvm
from spark_jobs.common.io.table import (
    CORRUPT_COLUMN,
    ID,
    Arrays,
    Table,
    arrow_arrays,
    collect_arrays,
    duplicate_id,
    log_read,
    unique_rows,
)
from spark_jobs.common.io.tabular import load_tabular, read_tabular, tabular_columns

# JVM errors of a file system that say the input cannot be read, whichever action met them: (class, what is wrong)
_UNREADABLE = (
    ("org.apache.hadoop.security.AccessControlException", "permission denied"),  # HDFS permissions
    ("java.nio.file.AccessDeniedException", "access denied"),  # s3a: HTTP 403 (wrong credentials, bucket policy)
    ("java.io.FileNotFoundException", "not found"),  # removed between listing and reading
)


@contextmanager
def unreadable_named(data: DataSpec) -> Iterator[None]:
    """Turn a JVM error saying the input cannot be read (permission, credentials, gone) into a DataError naming its URI."""
    try:
        yield
    except (DataError, ConfigError):
        raise
    except Exception as exc:
        text = str(exc)
        for cls, what in _UNREADABLE:
            found = re.search(rf"{re.escape(cls)}: ([^\n]*)", text)
            if found:
                detail = found[1].strip()[:400]
                raise DataError(f"{data.uri}: cannot read as {data.format}: {what}: {detail}") from exc
        raise


def read_input(spark: SparkSession, data: DataSpec, *, require_label: bool = False, name: str = "input") -> Table:
    """Read, check and normalise one input; ``name`` is its key under ``inputs`` (for errors)."""
    _check_label_wanted(data, require_label, name)
    with unreadable_named(data):
        return _read_input(spark, data)


def _read_input(spark: SparkSession, data: DataSpec) -> Table:
    reader = read_libsvm if data.format == "libsvm" else read_tabular
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
            raise duplicate_id(data, dup[ID], dup["count"])
    except DataError:
        for frame in cached:
            frame.unpersist()
        raise
    log_read(data, rows, len(features))
    return Table(df, tuple(features), data.label_column is not None, data.uri, rows_read, rows, missing)


def read_arrays(spark: SparkSession, data: DataSpec, *, require_label: bool = False, name: str = "input") -> Arrays:
    """An input as ``(table, ids, X, y)`` sorted by id, for a step that works on it in the driver.

    The same checks and errors as :func:`read_input` then :func:`collect_arrays`. A clean
    csv/parquet input under the default ``missing: error`` costs one Spark job that collects its
    values as doubles; the rules then run in numpy on what came back. Every cell the rules flag
    (missing, non-numeric, infinite) arrives as a null, NaN or infinity, every row without an id
    as an empty id, a malformed csv line as a set corrupt-record flag. A libsvm input costs one
    Spark job that collects its lines; they are parsed here by :func:`parse_libsvm_line` when every
    line is plain (printable ASCII tokens, see ``libsvm.libsvm_arrays``). Anything flagged, an empty
    input, another missing policy, a missing token that parses as a number, and a libsvm line that
    is not plain or does not parse take read_input's path, so their errors and policies are exactly
    its. Why: in a step's fresh JVM read_input's four Spark actions (their planning and code
    generation, most of all the 150-term check of a 74-column input) took 12-13 s for a 32k x 74
    Parquet, this path 4-5 s; for a9a's 32k-line libsvm files 10-14 s against ~2 s.
    """
    _check_label_wanted(data, require_label, name)
    with unreadable_named(data):
        if data.format == "libsvm":
            fast = libsvm_arrays(spark, data)
            if fast is not None:
                return fast
        elif data.missing.action == "error" and not any(_is_finite_number(v) for v in data.missing_values):
            plan = tabular_columns(load_tabular(spark, data), data)
            corrupt = [F.col(CORRUPT_COLUMN).isNotNull().alias(CORRUPT_COLUMN)] if CORRUPT_COLUMN in plan.raw.columns else []
            arrow = plan.raw.select(*plan.columns(), *corrupt).toArrow()
            if arrow.num_rows and not _flagged(arrow):
                ids, X, y = arrow_arrays(arrow, plan.features, plan.label is not None, sort_by_id=True)
                return unique_rows(data, plan.normalised(), plan.features, ids, X, y)
        table = _read_input(spark, data)
        return (table, *collect_arrays(table, sort_by_id=True))


def _flagged(arrow: pa.Table) -> bool:
    """Whether any row of a collected csv/parquet input breaks a rule (see read_arrays)."""
    ids = arrow.column(ID)
    if ids.null_count or pc.any(pc.equal(ids, "")).as_py():
        return True
    if CORRUPT_COLUMN in arrow.column_names and pc.any(arrow.column(CORRUPT_COLUMN)).as_py():
        return True
    values = [arrow.column(n) for n in arrow.column_names if n not in (ID, CORRUPT_COLUMN)]
    return any(v.null_count or not pc.all(pc.is_finite(v)).as_py() for v in values)


def _is_finite_number(text: str) -> bool:
    """Whether a missing token reads as a number (e.g. -999): such a cell collects as that number, not a flag."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_label_wanted(data: DataSpec, require_label: bool, name: str) -> None:
    if require_label and data.label_column is None:
        raise ConfigError(f"inputs.{name}.label_column: missing (this party's step needs the label)")
