"""A real HDFS for the tests: Hadoop's MiniDFSCluster (a NameNode and a DataNode in one JVM).

Jars from Maven Central (storage/hdfs/pom.xml, at pyspark's bundled Hadoop client version, fetched by
scripts/storage). The steps find it as a party's deployment would give it: ``HADOOP_CONF_DIR`` (the
seed's ``hadoop-config``) holding a ``core-site.xml`` whose ``fs.defaultFS`` names the NameNode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import JVM_OPTS, Server, server_libs

CORE_SITE = """<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>{uri}</value></property>
</configuration>
"""


@dataclass(frozen=True)
class Hdfs:
    uri: str  # hdfs://127.0.0.1:<port>, the NameNode
    conf_dir: Path  # a HADOOP_CONF_DIR naming it as fs.defaultFS

    def env(self) -> dict[str, str]:
        """What a step's process needs to resolve ``hdfs:///...`` paths to this cluster."""
        return {"HADOOP_CONF_DIR": str(self.conf_dir)}


@contextmanager
def mini_hdfs(run_dir: Path) -> Iterator[Hdfs]:
    """Start a fresh, formatted MiniDFSCluster under ``run_dir``; stop it on exit."""
    libs = server_libs("hdfs")
    details = run_dir / "details.json"
    argv = [
        "java", *JVM_OPTS, "-Xmx512m", f"-Dtest.build.data={run_dir / 'data'}", "-cp", f"{libs}/*",
        "org.apache.hadoop.test.MiniDFSClusterManager", "-format", "-datanodes", "1", "-writeDetails", str(details),
    ]  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    server = Server("HDFS (MiniDFSCluster)", argv, run_dir / "hdfs.log", run_dir)
    try:
        server.wait_until(details.exists)
        port = json.loads(details.read_text())["namenode_port"]
        conf_dir = run_dir / "conf"
        conf_dir.mkdir(exist_ok=True)
        uri = f"hdfs://127.0.0.1:{port}"
        (conf_dir / "core-site.xml").write_text(CORE_SITE.format(uri=uri))
        yield Hdfs(uri, conf_dir)
    finally:
        server.stop()


def put(spark, local: Path, uri: str) -> str:
    """Copy a local file into HDFS with the Hadoop client of a Spark session's JVM; returns ``uri``."""
    jvm = spark._jvm
    target = jvm.org.apache.hadoop.fs.Path(uri)
    fs = target.getFileSystem(spark._jsc.hadoopConfiguration())
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(local.resolve().as_uri()), target)
    return uri


def names(spark, uri: str) -> list[str]:
    """The sorted names in an HDFS directory (empty when it does not exist)."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    return sorted(s.getPath().getName() for s in fs.listStatus(path)) if fs.exists(path) else []


def read_text(spark, uri: str) -> str:
    """A file's text through the Hadoop client of a Spark session's JVM (any scheme it knows: hdfs:, file:, ...)."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    stream = path.getFileSystem(spark._jsc.hadoopConfiguration()).open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def chmod(spark, uri: str, mode: int) -> None:
    """Set an HDFS path's permission bits (e.g. 0o700) with the session's Hadoop client."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark._jsc.hadoopConfiguration()).setPermission(
        path, jvm.org.apache.hadoop.fs.permission.FsPermission(mode)
    )


@contextmanager
def as_user(spark, user: str) -> Iterator[None]:
    """Run the session's Hadoop calls (driver and local tasks) as ``user``, not the NameNode's superuser who started it.

    Swaps the JVM's login user (simple authentication, as ``HADOOP_USER_NAME`` does for a new process) and puts it back.
    """
    ugi = spark._jvm.org.apache.hadoop.security.UserGroupInformation
    own = ugi.getLoginUser()
    ugi.setLoginUser(ugi.createRemoteUser(user))
    try:
        yield
    finally:
        ugi.setLoginUser(own)
