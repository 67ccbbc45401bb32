"""The container tests' handle on the project's Docker engine (scripts/docker) and PowerFL's images (docker/build)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER_HOST = f"unix://{REPO}/.run/docker/docker.sock"
GUEST, HOST = "10000", "20000"  # the party ids of the tests' two-party federation


class DockerError(RuntimeError):
    """A docker command failed; the message carries its output."""


def docker(*args: str, timeout: float = 120) -> str:
    """Run the docker CLI against the project's engine; its stdout, or DockerError with stderr."""
    proc = subprocess.run(
        ["docker", *args], env={**os.environ, "DOCKER_HOST": DOCKER_HOST}, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:3])} ... exited {proc.returncode}: {proc.stderr[-3000:]}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class Images:
    """The tags docker/build gave the images."""

    runtime: str
    kafka: str


@dataclass
class Containers:
    """Networks and containers of one test, each named with a prefix of its own, removed by ``remove``."""

    prefix: str = field(default_factory=lambda: f"pfl-{uuid.uuid4().hex[:8]}")
    names: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def network(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        docker("network", "create", full)
        self.networks.append(full)
        return full

    def start(self, name: str, image: str, network: str, *args: str, options: tuple[str, ...] = ()) -> str:
        """``docker run -d`` of ``image`` named ``<prefix>-<name>`` on ``network``; its full name."""
        full = f"{self.prefix}-{name}"
        self.names.append(full)
        docker("run", "-d", "--name", full, "--network", network, *options, image, *args)
        return full

    def ip(self, name: str) -> str:
        return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name).split()[0]

    def logs(self, name: str) -> str:
        return subprocess.run(
            ["docker", "logs", "--tail", "60", name],
            env={**os.environ, "DOCKER_HOST": DOCKER_HOST},
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout

    def kafka(self, name: str, image: str, network: str, timeout: float = 180) -> str:
        """A broker of the Kafka image on ``network``; ``ip:9092`` once it accepts connections."""
        full = self.start(name, image, network)
        address = f"{self.ip(full)}:9092"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if docker("inspect", "-f", "{{.State.Running}}", full) != "true":
                raise DockerError(f"broker {full} exited:\n{self.logs(full)}")
            if "Kafka Server started" in self.logs(full):
                with socket.create_connection((address.split(":")[0], 9092), timeout=5):
                    return address
            time.sleep(1)
        raise DockerError(f"broker {full} not started in {timeout:.0f} s:\n{self.logs(full)}")

    def remove(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["docker", "rm", "-f", "-v", name], env={**os.environ, "DOCKER_HOST": DOCKER_HOST},
                           capture_output=True, timeout=120)  # fmt: skip
        for network in self.networks:
            subprocess.run(["docker", "network", "rm", network], env={**os.environ, "DOCKER_HOST": DOCKER_HOST},
                           capture_output=True, timeout=60)  # fmt: skip
