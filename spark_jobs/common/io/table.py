"""The layout every reader produces (:class:`Table`, the ``id``/``label`` columns) and its way to the driver."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.jobs.spec import DataSpec

log = logging.getLogger(__name__)

ID = "id"
LABEL = "label"
FILE_COLUMN = "_powerfl_file"  # the file a row came from, for errors
CORRUPT_COLUMN = "_powerfl_corrupt"  # a csv line that does not fit the header


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


Arrays = tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]  # read_arrays' (table, ids, X, y)


def collect_arrays(table: Table, *, sort_by_id: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Bring a table to the driver as ``(ids, X, y)``: object array of str, float64 (n, d), float64 or None.

    Collected as Arrow record batches, one stream per partition in partition
    order, so only columnar buffers cross to the driver, not a Python Row per sample.
    """
    return arrow_arrays(table.df.toArrow(), table.feature_names, table.has_label, sort_by_id=sort_by_id)


def arrow_arrays(
    arrow: pa.Table, feature_names: Sequence[str], has_label: bool, *, sort_by_id: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ids = arrow.column(ID).to_pylist()
    columns = [arrow.column(name).to_numpy().astype(np.float64, copy=False) for name in feature_names]
    x = np.column_stack(columns) if columns else np.empty((arrow.num_rows, 0))
    y = arrow.column(LABEL).to_numpy().astype(np.float64, copy=False) if has_label else None
    return id_rows(ids, x, y, sort_by_id=sort_by_id)


def id_rows(
    ids: list[str], x: np.ndarray, y: np.ndarray | None, *, sort_by_id: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(ids as an object array of str, x, y)``, rows sorted by id if asked."""
    row_ids = np.empty(len(ids), dtype=object)
    row_ids[:] = ids
    if not sort_by_id:
        return row_ids, x, y
    order = np.argsort(row_ids, kind="stable")
    return row_ids[order], x[order], None if y is None else y[order]


def unique_rows(
    data: DataSpec, df: DataFrame, features: Sequence[str], ids: np.ndarray, X: np.ndarray, y: np.ndarray | None
) -> Arrays:
    """read_arrays' result from clean rows sorted by id, refused with read_input's error if an id repeats."""
    duplicated = ids[1:][ids[1:] == ids[:-1]]
    if len(duplicated):
        first = min(duplicated)
        raise duplicate_id(data, first, int(np.sum(ids == first)))
    log_read(data, len(ids), len(features))
    table = Table(df, tuple(features), y is not None, data.uri, len(ids), len(ids), dict.fromkeys(features, 0))
    return table, ids, X, y


def duplicate_id(data: DataSpec, row_id: str, count: int) -> DataError:
    return DataError(f"{data.uri}: duplicate id {row_id!r} ({count} rows)")


def log_read(data: DataSpec, rows: int, n_features: int) -> None:
    log.info("read %s (%s): %d rows, %d features", data.uri, data.format, rows, n_features)
