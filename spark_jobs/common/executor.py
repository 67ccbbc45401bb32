"""Map a protocol's crypto chunks over Spark partitions, the protocol itself staying in the driver.

The algorithms take a ``map(fn, items)`` callable (``paillier_kernels.ChunkMap``);
:class:`SparkChunkMap` runs the chunks as Spark tasks and shares large inputs of many
chunks as broadcasts. ``fn`` must be a module-level function (pickled by reference),
as the kernels are, or a functools.partial of one.

:func:`crypto_map` picks the map for native-code kernels (hetero LR's): Spark tasks on a
cluster master, threads of the driver on a local one, where the executors are this
machine's cores anyway and shipping every chunk to a Python worker and back cost as
much CPU as the chunk's crypto (docs/benchmarks/hetero_lr.md). Spark conf
``spark.powerfl.cryptoExecutor`` (``threads`` or ``spark``) overrides the choice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pyspark import SparkContext
from pyspark.broadcast import Broadcast
from pyspark.sql import SparkSession

from airflow_provider_powerfl.algorithms.paillier_kernels import ThreadChunkMap
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.command import CRYPTO_EXECUTOR_CONF

log = logging.getLogger(__name__)


class SparkChunkMap:
    """A chunk map running the chunks as Spark tasks; a single chunk runs in the driver (no task overhead).

    ``tasks_per_core``: at most that many tasks per core (``defaultParallelism``) per call, each
    running several chunks in a row; None: one task per chunk. Why: a Python task costs tens of
    milliseconds to launch and unpickle, which many small chunks (SecureBoost's deep levels) pay each.
    """

    def __init__(self, sc: SparkContext, tasks_per_core: int | None = None) -> None:
        self.sc = sc
        self.tasks_per_core = tasks_per_core

    @property
    def parallelism(self) -> int:
        """The most tasks a call runs at once (per core, ``tasks_per_core`` or 1): how many parts a caller may cut its work into."""
        return (self.tasks_per_core or 1) * self.sc.defaultParallelism

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        tasks = len(items) if self.tasks_per_core is None else min(len(items), self.parallelism)
        return self.sc.parallelize(items, tasks).map(fn).collect()

    def share(self, value: Any) -> tuple[Broadcast[Any], Callable[[], None]]:
        """``value`` as a broadcast (each worker receives it once, not with every chunk) and its release."""
        broadcast = self.sc.broadcast(value)
        return broadcast, broadcast.destroy


def spark_chunk_map(sc: SparkContext, tasks_per_core: int | None = None) -> SparkChunkMap:
    """The chunk map a Spark step passes to an algorithm as its ``executor``."""
    return SparkChunkMap(sc, tasks_per_core)


def crypto_map(spark: SparkSession) -> SparkChunkMap | ThreadChunkMap:
    """The chunk map for kernels whose loops are native code: threads on a local master, else Spark tasks."""
    sc = spark.sparkContext
    choice = spark.conf.get(CRYPTO_EXECUTOR_CONF, "threads" if sc.master.startswith("local") else "spark")
    if choice == "threads":
        log.info("crypto chunks on %d driver threads", sc.defaultParallelism)
        return ThreadChunkMap(sc.defaultParallelism)
    if choice == "spark":
        log.info("crypto chunks as Spark tasks")
        return SparkChunkMap(sc)
    raise ConfigError(f"{CRYPTO_EXECUTOR_CONF}: expected 'threads' or 'spark', got {choice!r}")
