"""Map a protocol's crypto chunks over Spark partitions, the protocol itself staying in the driver.

The algorithms take a ``map(fn, items)`` callable (``paillier_kernels.ChunkMap``);
this one runs each chunk as one Spark task. ``fn`` must be a module-level
function (pickled by reference), as the kernels are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pyspark import SparkContext


def spark_chunk_map(sc: SparkContext) -> Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]:
    """A chunk map running one Spark task per chunk; a single chunk runs in the driver (no task overhead)."""

    def chunk_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        return sc.parallelize(items, len(items)).map(fn).collect()

    return chunk_map
