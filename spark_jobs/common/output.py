"""Atomic step outputs: write into a staging directory, then rename it into place.

Goes through Hadoop's FileSystem API so any URI Spark writes (file:, hdfs:,
s3a:, ...) works. The rename is atomic on local disks and HDFS; on object
stores (s3a) it is a copy, so a reader may briefly see a partial directory
there, but a failed step still leaves nothing behind.

An output may also be published as a Hive table (:func:`publish_tables`, a step's ``output_tables``): an
external table over its files, named only once they are all in place.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from airflow_provider_powerfl.exceptions import ConfigError, DataError, PowerFLError

log = logging.getLogger(__name__)


class Staging:
    """The staging directory a step writes its outputs into."""

    def __init__(self, spark: SparkSession, fs: Any, path: Any) -> None:
        self._jvm = spark._jvm
        self._fs = fs
        self._path = path

    def uri(self, name: str) -> str:
        """Full URI of ``name`` inside the staging directory, for ``df.write``."""
        return self._child(name).toString()

    def write_text(self, name: str, text: str) -> None:
        stream = self._fs.create(self._child(name), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def write_json(self, name: str, obj: Any) -> None:
        self.write_text(name, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")

    def _child(self, name: str) -> Any:
        if not name or name.startswith(("/", ".")) or "/.." in name:
            raise ValueError(f"output name {name!r} must be a relative path inside the output dir")
        return self._jvm.org.apache.hadoop.fs.Path(self._path, name)


@contextmanager
def atomic_output(spark: SparkSession, uri: str) -> Iterator[Staging]:
    """Yield a :class:`Staging`; on success it replaces ``uri``, on any error it is deleted."""
    jvm = spark._jvm
    Path = jvm.org.apache.hadoop.fs.Path
    final = Path(uri)
    fs = final.getFileSystem(spark._jsc.hadoopConfiguration())
    fs.setWriteChecksum(False)  # no .crc files beside the outputs on local disks
    final = fs.makeQualified(final)
    parent = final.getParent()
    tag = uuid.uuid4().hex[:12]
    staging = Path(parent, f".{final.getName()}.staging-{tag}")
    fs.mkdirs(staging)
    try:
        yield Staging(spark, fs, staging)
    except BaseException:
        fs.delete(staging, True)
        raise
    old = Path(parent, f".{final.getName()}.old-{tag}")
    replaced = fs.exists(final)
    if replaced and not fs.rename(final, old):
        fs.delete(staging, True)
        raise PowerFLError(f"{final.toString()}: cannot move the previous output aside")
    if not fs.rename(staging, final):
        if replaced:
            fs.rename(old, final)
        fs.delete(staging, True)
        raise PowerFLError(f"{final.toString()}: cannot rename the staging directory into place")
    if replaced:
        fs.delete(old, True)
    log.info("outputs written to %s", final.toString())


POWERFL_TABLE = "powerfl.output"  # table property of a table a step published: the only kind a step replaces


def publish_tables(spark: SparkSession, tables: Mapping[str, str] | None, outputs: Mapping[str, Mapping[str, Any]]) -> None:
    """Publish written outputs as Hive tables: ``tables`` maps an output's name to ``hive://<db>.<table>``.

    Call it after :func:`atomic_output` put the outputs in place: each table is an external table over its
    output's files (``uri`` and ``format`` of its data spec), so it names complete data only. It is made under
    a staging name, then takes the table's name; one a step published before (table property
    ``powerfl.output``) is replaced, and is absent for that instant only. Any other table of that name is
    refused and left as it was, as a database that does not exist is.
    """
    for name, table in (tables or {}).items():
        if name not in outputs:
            have = ", ".join(sorted(outputs)) or "none"
            raise ConfigError(f"params.output_tables.{name}: this step writes no output {name!r} (it writes: {have})")
        data = outputs[name]
        database, short = table.removeprefix("hive://").split(".", 1)
        final, staging = f"`{database}`.`{short}`", f"`{database}`.`_powerfl_{short}_{uuid.uuid4().hex[:8]}`"
        location = str(data["uri"]).replace("\\", "\\\\").replace("'", "\\'")
        try:
            if spark.catalog.tableExists(f"{database}.{short}"):
                found = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {final}").collect()}
                if found.get(POWERFL_TABLE) != "true":
                    raise DataError(f"{table}: a table no PowerFL step wrote exists there; refusing to replace it")
            spark.sql(
                f"CREATE TABLE {staging} USING {data['format']} LOCATION '{location}' TBLPROPERTIES ('{POWERFL_TABLE}' = 'true')"
            )
            spark.sql(f"DROP TABLE IF EXISTS {final}")
            spark.sql(f"ALTER TABLE {staging} RENAME TO {final}")
        except AnalysisException as exc:
            spark.sql(f"DROP TABLE IF EXISTS {staging}")
            raise DataError(f"{table}: cannot publish output {name!r} ({data['uri']}): {str(exc).splitlines()[0]}") from exc
        log.info("output %s published as %s", name, table)
