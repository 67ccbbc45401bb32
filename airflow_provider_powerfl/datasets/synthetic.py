"""A synthetic two-party vertical data set of any size: the scale benchmark's and the cluster tests' data.

The guest holds the label and ``guest_features`` columns, the host ``host_features`` columns; each party
also holds rows the other lacks (``overlap``: the share of each party's rows that both hold), so
alignment has work to do. The label is a logistic draw of a linear score over both parties' columns,
so a joint model beats either party's alone. ``sparsity`` is the share of feature cells set to 0.0
(as one-hot or count data are). Ids are strings (``u<13 digits>``), scrambled so that id order is not
file order.
Written in FATE's CSV layout (``id``, [``y``], ``x0..``) or as Parquet, in blocks of rows, so a
10-million-row set never sits in memory whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from airflow_provider_powerfl.exceptions import ConfigError

_BLOCK = 200_000  # rows generated and written at a time


@dataclass(frozen=True)
class SyntheticSpec:
    """The shape of a generated set; every party's file follows from it and ``seed``."""

    rows: int  # rows at each party
    guest_features: int = 10
    host_features: int = 20
    overlap: float = 0.8
    sparsity: float = 0.0
    seed: int = 0

    def check(self) -> SyntheticSpec:
        if self.rows < 1 or self.guest_features < 1 or self.host_features < 1:
            raise ConfigError(f"synthetic data: rows and feature counts must be >= 1, got {self}")
        if not 0 < self.overlap <= 1 or not 0 <= self.sparsity < 1:
            raise ConfigError(f"synthetic data: overlap must be in (0, 1] and sparsity in [0, 1), got {self}")
        return self

    @property
    def shared(self) -> int:
        """Rows both parties hold (the intersection PSI finds)."""
        return int(round(self.rows * self.overlap))


@dataclass(frozen=True)
class SyntheticSplit:
    guest: Path
    host: Path
    shared: int


def _ranges(spec: SyntheticSpec, party: str) -> list[tuple[int, int]]:
    """A party's rows as ranges of the joint universe: [0, shared) at both, then each party's own rows."""
    own = spec.rows - spec.shared
    start = spec.shared + (0 if party == "guest" else own)
    return [(0, spec.shared), (start, start + own)]


def _pieces(spec: SyntheticSpec, party: str) -> list[tuple[int, int]]:
    """The party's ranges cut at multiples of _BLOCK, so that each piece lies in one block of draws."""
    out = []
    for a, end in _ranges(spec, party):
        while a < end:
            b = min(end, (a // _BLOCK + 1) * _BLOCK)
            out.append((a, b))
            a = b
    return out


def _draw(spec: SyntheticSpec, stream: int, a: int, b: int, normal: bool) -> np.ndarray:
    """Draws for universe rows [a, b) of one stream: a pure function of (seed, stream, row), so both parties agree."""
    block = a // _BLOCK
    rng = np.random.default_rng([spec.seed, stream, block])
    values = rng.standard_normal(_BLOCK) if normal else rng.random(_BLOCK)
    return values[a - block * _BLOCK : b - block * _BLOCK]


def _features(spec: SyntheticSpec, a: int, b: int, column0: int, count: int) -> np.ndarray:
    out = np.empty((b - a, count))
    for j in range(count):
        out[:, j] = _draw(spec, 1000 + column0 + j, a, b, True)
        if spec.sparsity:
            out[_draw(spec, 10**6 + column0 + j, a, b, False) < spec.sparsity, j] = 0.0
    return np.round(out, 6)


def _labels(spec: SyntheticSpec, a: int, b: int) -> np.ndarray:
    total = spec.guest_features + spec.host_features
    weights = np.random.default_rng([spec.seed, 4]).normal(0, 2.0 / np.sqrt(total), total)
    score = _features(spec, a, b, 0, total) @ weights
    return (_draw(spec, 5, a, b, False) < 1 / (1 + np.exp(-score))).astype(np.int64)


def _ids(a: int, b: int) -> pa.Array:
    """String ids of universe rows, scrambled (a bijection mod 10^12), so id order is not file order."""
    scrambled = (np.arange(a, b, dtype=np.int64) * 7_919_312_761 + 104_729) % 10**12
    return pa.array([f"u{10**12 + int(i)}" for i in scrambled])


def _table(spec: SyntheticSpec, party: str, a: int, b: int) -> pa.Table:
    guest = party == "guest"
    column0, count = (0, spec.guest_features) if guest else (spec.guest_features, spec.host_features)
    columns = {"id": _ids(a, b)}
    if guest:
        columns["y"] = pa.array(_labels(spec, a, b))
    X = _features(spec, a, b, column0, count)
    columns.update({f"x{column0 + j}": pa.array(X[:, j]) for j in range(count)})
    return pa.table(columns)


def write_synthetic(out_dir: str | Path, spec: SyntheticSpec, fmt: str = "csv") -> SyntheticSplit:
    """Write ``guest.<fmt>`` and ``host.<fmt>`` (csv or parquet) under ``out_dir``."""
    spec = spec.check()
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"synthetic data: format must be csv or parquet, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for party in ("guest", "host"):
        path = paths[party] = out / f"{party}.{fmt}"
        writer = None
        for a, b in _pieces(spec, party):
            table = _table(spec, party, a, b)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema) if fmt == "parquet" else pacsv.CSVWriter(path, table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
    return SyntheticSplit(paths["guest"], paths["host"], spec.shared)
