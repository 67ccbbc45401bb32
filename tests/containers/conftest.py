"""Fixtures of the container tests: the project's Docker engine and PowerFL's images, for real.

The engine is started by ``scripts/docker up`` (idempotent; make test's ``images`` target has started it)
and the images built by ``docker/build`` (a no-op when they are up to date). A missing engine or a failed
build fails the tests, never skips them.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator

import pytest

from tests.containers.engine import GUEST, HOST, REPO, Containers, Images


def _run_or_fail(*argv: str, timeout: float) -> None:
    try:
        proc = subprocess.run([str(REPO / argv[0]), *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{' '.join(argv)} could not run: {exc}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def images() -> Images:
    """The engine up and both images built; their tags."""
    _run_or_fail("scripts/docker", "up", timeout=120)
    _run_or_fail("docker/build", timeout=1500)  # cold: the base, ~1.4 GB of dependencies, the JRE
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    pom = (REPO / "kafka" / "pom.xml").read_text()
    kafka_version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    return Images(runtime=f"powerfl/runtime:{version}", kafka=f"powerfl/kafka:{kafka_version}")


@pytest.fixture(scope="session")
def container_brokers(images: Images) -> Iterator[tuple[Containers, dict[str, str]]]:
    """Guest's and host's brokers of the Kafka image on one network, shared by the tests (each uses its own job
    ids); ``(their containers, {party id: "ip:9092"})``."""
    started = Containers()
    try:
        network = started.network("kafka")
        yield started, {GUEST: started.kafka("kafka-guest", images.kafka, network),
                        HOST: started.kafka("kafka-host", images.kafka, network)}  # fmt: skip
    finally:
        started.remove()


@pytest.fixture
def containers() -> Iterator[Containers]:
    """This test's networks and containers, removed after it."""
    started = Containers()
    try:
        yield started
    finally:
        started.remove()
