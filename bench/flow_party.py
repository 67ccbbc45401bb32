"""What the flow-server benchmarks share: one real party Airflow (tests/support/parties.py's launcher) and timing.

`one_party` starts a single party's Airflow 3 (api-server, scheduler, dag-processor, triggerer; the PowerFL
plugin, its ``powerfl`` connection and registry) the way the two-party tests start each of theirs, with the
given pipeline DAGs deployed; its registry also holds the peers named in those pipelines (their keys here),
so the bench can sign their events.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.federation.keys import SigningKey, generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry
from demo.airflow import free_ports
from tests.support.parties import Party, _airflow, _connection, has_dags, until


@dataclass(frozen=True)
class OneParty:
    """The party (a guest), its peers' ids, the registry and the keys under `root`."""

    party: Party
    peers: tuple[str, ...]
    root: Path
    registry_path: Path

    def registry(self) -> PartyRegistry:
        return PartyRegistry.from_yaml(self.registry_path)

    def key(self, party_id: str) -> SigningKey:
        return SigningKey.from_file(self.root / "keys" / f"{party_id}.key")


@contextmanager
def one_party(
    root: Path, broker: str, pipelines: Mapping[str, Callable[[str, str, str], dict[str, Any]]], timeout: float = 600.0
) -> Iterator[OneParty]:
    """A guest's Airflow on `broker` with `pipelines` (dag id -> f(guest, host, host2) -> definition) deployed.

    The peers (a host and a second host) are only in the registry (on the same broker): no Airflow of theirs.
    """
    session = secrets.randbelow(90000) + 10000
    me, peers = f"1{session}", (f"2{session}", f"3{session}")
    entries = {}
    for party_id, role in zip((me, *peers), ("guest", "host", "host"), strict=True):
        _, public = generate_party_keys(root / "keys", party_id)
        entries[party_id] = {"role": role, "bootstrap_servers": broker, "public_key": str(public)}
    registry = root / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": entries}))
    airflow = _airflow(root, me, "guest", _connection(root, registry, me, "guest", list(peers), broker), iter(free_ports(3)))
    for dag_id, make in pipelines.items():
        definition = make(me, *peers)
        (airflow.dags_folder / "pipelines" / f"{dag_id}.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
    try:
        airflow.prepare()
        airflow.start()
        airflow.wait_healthy(timeout=timeout)
        dag_ids = [*pipelines, "powerfl_listener"]
        until(lambda: has_dags(airflow, dag_ids), timeout, lambda: f"to parse {dag_ids}:\n{airflow.log_tail('dag-processor')}")
        yield OneParty(Party(me, "guest", airflow), peers, root, registry)
    finally:
        airflow.stop()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share 0.95: the value 95 % of the samples are at or below)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-share * len(ordered) // 1)) - 1))]


def summarize(ms: list[float]) -> dict[str, Any]:
    """Median, p95, min and max of millisecond samples, rounded to 0.1 ms."""
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds `call()` took, and its value."""
    started = time.perf_counter()
    value = call()
    return (time.perf_counter() - started) * 1000, value


def loadavg() -> str:
    """The first three fields of /proc/loadavg (the 1, 5 and 15 minute load)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
