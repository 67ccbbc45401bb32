"""Session fixtures of the servers the data-source and cluster tests start (a pytest plugin of tests/conftest.py).

One of each per test session, started on first use: a real HDFS (``hdfs``) and a Spark standalone
cluster (``spark_standalone``). A server that cannot start fails the tests that asked for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hdfs import Hdfs, mini_hdfs
from tests.support.spark_cluster import SparkCluster, spark_cluster


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hdfs]:
    with mini_hdfs(tmp_path_factory.mktemp("hdfs")) as server:
        yield server


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster
