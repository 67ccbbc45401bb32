"""Two parties, each in its own network namespace with its own Kafka broker, Airflow and Spark steps.

tests/support/netns.py builds the namespaces and their firewalls, ns_brokers.py the brokers, parties.py the
Airflows (placed in the namespaces through their launcher). The fault tests (tests/faults) and
``powerfl bench load`` use it::

    with namespaced_two_parties(root, {"p.yaml": make_pipeline}) as world:
        world.network.cut("guest", "host"); world.brokers["host"].kill(); world.parties.guest.api
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.netns import Network
from tests.support.ns_brokers import NamespacedBroker, brokers_for
from tests.support.parties import TwoParties, two_parties

# Spark binds its driver to the namespace's loopback (the host name resolves to the root namespace's)
PARTY_ENV = {"SPARK_LOCAL_IP": "127.0.0.1"}


STEP_MARKERS = (b"spark_jobs/run.py", b"org.apache.spark")  # a Spark step's Python driver or its JVM


def is_step(pid: int) -> bool:
    """Whether process `pid` is (part of) a Spark step: its spark-submit JVM or its Python driver."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(marker in cmdline for marker in STEP_MARKERS)


@dataclass(frozen=True)
class NamespacedParties:
    network: Network
    brokers: dict[str, NamespacedBroker]
    parties: TwoParties


def _start(brokers: Mapping[str, NamespacedBroker]) -> None:
    errors: list[BaseException] = []

    def up(broker: NamespacedBroker) -> None:
        try:
            broker.up()
        except BaseException as exc:  # re-raised below, in this thread
            errors.append(exc)

    threads = [threading.Thread(target=up, args=(broker,)) for broker in brokers.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextmanager
def namespaced_two_parties(
    root: Path,
    pipelines: Mapping[str, Callable[[str, str], dict[str, Any]]],
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    policy: Mapping[str, Any] | None = None,
) -> Iterator[NamespacedParties]:
    """A guest and a host in namespaces of their own, each with its broker; `env` is added to both Airflows',
    `policy` to both parties' policies."""
    network = Network(["guest", "host"]).create()
    brokers = brokers_for(network, root)
    try:
        _start(brokers)
        options = {
            role: {"host": net.address, "launcher": net.launcher, "env": {**PARTY_ENV, **(env or {})}}
            for role, net in network.parties.items()
        }
        addresses = {role: broker.address for role, broker in brokers.items()}
        with two_parties(root, addresses, pipelines, timeout=timeout, airflow_options=options, policy=policy) as parties:
            yield NamespacedParties(network, brokers, parties)
    finally:
        for broker in brokers.values():
            broker.down()
        network.destroy()
