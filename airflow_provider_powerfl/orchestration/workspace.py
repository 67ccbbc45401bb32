"""A party's record of proposals and decisions: the signed messages themselves, one file each, verified on read.

Kept in ``<pipelines dir>/.workspace/`` (the DAG factory reads only ``*.yaml`` beside it): ``<id>.pfl`` is one
wire message as signed (to this party: what it received, and its own sent ones sealed to itself), named by
its digest, so keeping one again changes nothing; ``offset`` is how far this party's topic is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.kafka_transport import deliver, ensure_topic
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.pipeline import load_pipelines
from airflow_provider_powerfl.orchestration.agreement import (
    AgreementRefused,
    Record,
    check_agreed,
    open_record,
    pipeline_version,
    seal_record,
    workspace_topic,
)

log = logging.getLogger(__name__)


def workspace_dir(pipelines_dir: str | os.PathLike[str]) -> Path:
    return Path(pipelines_dir) / ".workspace"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


class Workspace:
    """Party `me`'s proposals and decisions in `directory`, checked against `registry`'s keys."""

    def __init__(self, directory: str | os.PathLike[str], registry: PartyRegistry, me: str) -> None:
        self.directory = Path(directory)
        self.registry = registry
        self.me = me

    def keep(self, wire: bytes) -> str:
        """Store one wire message as it came (verified when read, not here: a bad one shows as refused)."""
        name = hashlib.sha256(wire).hexdigest()[:32]
        path = self.directory / f"{name}.pfl"
        if not path.exists():
            _write_atomic(path, wire)
        return name

    def read(self) -> tuple[list[Record], list[dict[str, Any]]]:
        """The verified records, oldest first, and the refused messages with the reason."""
        records, refused = [], []
        for path in sorted(self.directory.glob("*.pfl")) if self.directory.is_dir() else ():
            try:
                record = open_record(path.read_bytes(), self.registry, self.me)
            except (MalformedMessage, PowerFLError) as exc:
                refused.append({"id": path.stem, "reason": str(exc), "at": path.stat().st_mtime})
                continue
            records.append(Record(**{**record.__dict__, "id": path.stem}))
        return sorted(records, key=lambda r: r.at), refused

    def publish(
        self, body: Mapping[str, Any], key: SigningKey, receivers: Sequence[str], timeout: float = 15.0
    ) -> dict[str, str]:
        """Keep this party's own signed copy and deliver one to each receiver's broker; {party: why not} for those missed."""
        self.keep(seal_record(body, self.me, self.me, key))
        missed: dict[str, str] = {}
        for party in receivers:
            if party == self.me:
                continue
            what = f"the {body['kind']} of pipeline {body['pipeline_id']!r} to party {party}"
            try:
                config = self.registry.get(party).kafka_config()
                deliver(config, workspace_topic(party), seal_record(body, self.me, party, key), what, timeout=timeout)
            except PowerFLError as exc:
                log.warning("could not deliver %s: %s", what, exc)
                missed[party] = str(exc)
        return missed

    def sync(self, timeout: float = 10.0) -> int:
        """Keep what arrived on this party's topic since the last read; the number of messages read."""
        from kafka import KafkaConsumer, TopicPartition

        config = self.registry.get(self.me).kafka_config()
        topic = workspace_topic(self.me)
        ensure_topic(config, topic)
        offset_file = self.directory / "offset"
        offset = int(offset_file.read_text()) if offset_file.exists() else 0
        consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100)
        read = 0
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            end = consumer.end_offsets([partition])[partition]
            consumer.seek(partition, offset)
            deadline = time.monotonic() + timeout
            while offset < end and time.monotonic() < deadline:
                for record in consumer.poll(timeout_ms=500).get(partition, []):
                    self.keep(record.value)
                    offset, read = record.offset + 1, read + 1
        finally:
            consumer.close()
        _write_atomic(offset_file, str(offset).encode())
        return read


def default_pipelines_dir() -> Path:
    """Where this party's DAG factory reads pipelines: ``$POWERFL_PIPELINES_DIR``, else ``<dags_folder>/pipelines``."""
    configured = os.environ.get("POWERFL_PIPELINES_DIR")
    if configured:
        return Path(configured)
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")) / "pipelines"


def stored_version(pipelines_dir: Path, pipeline_id: str) -> str | None:
    """The version of the pipeline `pipeline_id` this party holds now (None: it holds none)."""
    for pipeline in load_pipelines(pipelines_dir) if pipelines_dir.is_dir() else ():
        if pipeline.dag_id == pipeline_id:
            return pipeline_version(load_config_file(Path(pipeline.source), "pipeline"))
    return None


def require_agreed(
    registry: PartyRegistry, me: str, pipelines_dir: Path, pipeline_id: str, version: str | None, parties: Sequence[str]
) -> str:
    """The version of `pipeline_id` party `me` holds, if it is `version` (when given) and every party accepted it.

    AgreementRefused says which party has not accepted, or that this party holds another version. Reads
    this party's workspace topic first, so a decision that just arrived counts.
    """
    workspace = Workspace(workspace_dir(pipelines_dir), registry, me)
    workspace.sync()
    current = stored_version(pipelines_dir, pipeline_id)
    if current is None:
        raise AgreementRefused(f"party {me} holds no pipeline {pipeline_id!r}")
    if version is not None and version != current:
        raise AgreementRefused(
            f"party {me} holds version {current[:12]} of pipeline {pipeline_id!r}, the job runs version {version[:12]}"
        )
    check_agreed(workspace.read()[0], pipeline_id, current, parties)
    return current
