"""A real S3-compatible server for the tests: S3Proxy (the S3 REST API over a local directory), one JVM.

The server's jar and the steps' s3a client jars (hadoop-aws with the AWS SDK v2 modules it uses) come
from Maven Central (storage/s3/pom.xml, storage/s3a/pom.xml, fetched by scripts/storage). As at a
party, the endpoint is deployment configuration (a ``core-site.xml`` in ``HADOOP_CONF_DIR``) and the
credentials reach the step's process as the AWS SDK's environment variables, never in the job conf.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import JVM_OPTS, Server, free_port, server_libs

BUCKET = "powerfl"
CORE_SITE = """<?xml version="1.0"?>
<configuration>
  <property><name>fs.s3a.endpoint</name><value>{endpoint}</value></property>
  <property><name>fs.s3a.endpoint.region</name><value>us-east-1</value></property>
  <property><name>fs.s3a.path.style.access</name><value>true</value></property>
  <property><name>fs.s3a.connection.ssl.enabled</name><value>false</value></property>
  <!-- as for many S3-compatible stores (Ceph, COS, S3Proxy): no bulk delete, no SDK checksum headers -->
  <property><name>fs.s3a.multiobjectdelete.enable</name><value>false</value></property>
  <property><name>fs.s3a.checksum.generation</name><value>false</value></property>
</configuration>
"""


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>
    bucket_dir: Path  # the directory behind bucket BUCKET (S3Proxy's filesystem store)
    conf_dir: Path  # a HADOOP_CONF_DIR naming the endpoint for s3a
    access_key: str
    secret_key: str
    client_jars: tuple[Path, ...]  # hadoop-aws and the SDK, for spark.jars

    def env(self) -> dict[str, str]:
        """A step's environment: the s3a endpoint's conf dir and the credentials (the SDK's own variables)."""
        return {"HADOOP_CONF_DIR": str(self.conf_dir), "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key}  # fmt: skip

    def spark_conf(self) -> dict[str, str]:
        return {"spark.jars": ",".join(str(p) for p in self.client_jars)}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def s3proxy(run_dir: Path) -> Iterator[S3Server]:
    """Start S3Proxy on a free port with one bucket, fresh credentials; stop it on exit."""
    (jar,) = server_libs("s3").glob("s3proxy-*.jar")
    client_jars = tuple(sorted(server_libs("s3a").glob("*.jar")))
    port = free_port()
    access_key, secret_key = "powerfl-" + secrets.token_hex(4), secrets.token_hex(16)
    store = run_dir / "store"
    (store / BUCKET).mkdir(parents=True, exist_ok=True)  # the filesystem store: a bucket is a directory
    properties = run_dir / "s3proxy.properties"
    properties.write_text(
        f"s3proxy.endpoint=http://127.0.0.1:{port}\ns3proxy.authorization=aws-v2-or-v4\n"
        f"s3proxy.identity={access_key}\ns3proxy.credential={secret_key}\n"
        f"jclouds.provider=filesystem\njclouds.filesystem.basedir={store}\n"
    )
    conf_dir = run_dir / "conf"
    conf_dir.mkdir(exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    (conf_dir / "core-site.xml").write_text(CORE_SITE.format(endpoint=endpoint))
    argv = ["java", *JVM_OPTS, "-Xmx256m", "-jar", str(jar), "--properties", str(properties)]
    server = Server("S3Proxy", argv, run_dir / "s3proxy.log", run_dir)
    try:
        server.wait_until(lambda: _listening(port))
        yield S3Server(endpoint, store / BUCKET, conf_dir, access_key, secret_key, client_jars)
    finally:
        server.stop()
