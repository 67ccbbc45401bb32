"""Which running jobs of a job-list page a user has paused: one read of this party's broker for the whole page.

``paused`` comes from the job's ``__pause__`` events on this party's own topics (docs/flow_server.md). Reading
them job by job (an admin client and a new consumer per job, and an ``/api/v2`` XCom call for an initiator's
nonce) cost ~150 ms per running job, which put the list past its 200 ms goal (docs/benchmarks.md). Here the
nonces of the page's runs come from one query of this Airflow's XCom table, and one long-lived consumer per
broker (for the api-server process's life, one request at a time) reads every running job's topic at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from airflow_provider_powerfl.exceptions import FederationError, PowerFLError
from airflow_provider_powerfl.federation.events import StatusEvent, event_topic, open_event
from airflow_provider_powerfl.federation.kafka_transport import broker_unreachable
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.plugins.flow_server.peers import known_of, paused
from airflow_provider_powerfl.plugins.flow_server.runs import run_nonces

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
_CONSUMERS: dict[tuple[str, ...], KafkaConsumer] = {}


def paused_jobs(runs: Sequence[Mapping[str, Any]], registry: PartyRegistry, me: str, timeout: float = 10.0) -> set[str]:
    """The run ids among the running `runs` (``/api/v2`` DAG runs) that a user has paused, at any party."""
    running = [run for run in runs if run["state"] == "running"]
    if not running:
        return set()
    nonces = run_nonces(running)
    jobs = {event_topic(run["dag_run_id"], me): (run["dag_run_id"], nonces[run["dag_run_id"]]) for run in running
            if run["dag_run_id"] in nonces}  # fmt: skip
    if not jobs:
        return set()
    config = registry.get(me).kafka_config()
    why = broker_unreachable(config["bootstrap_servers"])
    if why is None:
        try:
            records = read_topics(config, list(jobs), timeout)
        except FederationError as exc:
            why = str(exc)
    if why is not None:  # the list still answers from Airflow: a pause is news on the broker, unknown meanwhile
        log.warning("party %s lists its jobs without their pauses: %s", me, why)
        return set()
    found = set()
    for topic, wires in records.items():
        job_id, nonce = jobs[topic]
        if paused(known_of(_verified(wires, registry, me, job_id, bytes.fromhex(nonce)))) is not None:
            found.add(job_id)
    return found


def _verified(wires: Iterable[bytes], registry: PartyRegistry, me: str, job_id: str, nonce: bytes) -> list[StatusEvent]:
    events = []
    for wire in wires:
        try:
            events.append(open_event(wire, registry, me, job_id, nonce))
        except PowerFLError:  # malformed, forged or of another run: EventReader drops these too
            continue
    return events


def read_topics(config: Mapping[str, Any], topics: list[str], timeout: float) -> dict[str, list[bytes]]:
    """Every record now on partition 0 of each of `topics` (those that exist) on the broker `config` points at."""
    key = tuple(sorted(f"{k}={v}" for k, v in config.items()))
    with _LOCK:
        try:
            consumer = _CONSUMERS.get(key)
            if consumer is None:
                consumer = _CONSUMERS[key] = KafkaConsumer(
                    **config, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50
                )
            return _read(consumer, topics, timeout)
        except (KafkaError, FederationError) as exc:
            stale = _CONSUMERS.pop(key, None)
            if stale is not None:
                stale.close()
            raise FederationError(f"cannot read job events at {config.get('bootstrap_servers')}: {exc}") from exc


def _read(consumer: KafkaConsumer, topics: list[str], timeout: float) -> dict[str, list[bytes]]:
    existing = consumer.topics()  # a topic is made by its first event: none yet, nothing to read
    parts = [TopicPartition(topic, 0) for topic in topics if topic in existing]
    out: dict[str, list[bytes]] = {topic: [] for topic in topics}
    if not parts:
        return out
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    deadline = time.monotonic() + timeout
    while any(consumer.position(part) < ends[part] for part in parts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FederationError(f"{len(parts)} event topics not read within {timeout:g}s")
        for part, records in consumer.poll(timeout_ms=int(min(remaining, 1.0) * 1000)).items():
            out[part.topic] += [record.value for record in records if record.offset < ends[part]]
    return out
