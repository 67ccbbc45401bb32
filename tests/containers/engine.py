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

    def network(self, name: str, *options: str) -> str:
        """``docker network create`` of ``<prefix>-<name>`` (``options`` e.g. ``--internal``); its full name."""
        full = f"{self.prefix}-{name}"
        docker("network", "create", *options, full)
        self.networks.append(full)
        return full

    def start(
        self, name: str, image: str, network: str, *args: str, options: tuple[str, ...] = (), also: tuple[str, ...] = ()
    ) -> str:
        """``docker run -d`` of ``image`` named ``<prefix>-<name>`` on ``network`` (and the networks ``also``
        names, connected before it starts); its full name."""
        full = f"{self.prefix}-{name}"
        self.names.append(full)
        if not also:
            docker("run", "-d", "--name", full, "--network", network, *options, image, *args)
            return full
        docker("create", "--name", full, "--network", network, *options, image, *args)
        for other in also:
            docker("network", "connect", other, full)
        docker("start", full)
        return full

    def cut_default_route(self, name: str) -> None:
        """Delete the default route in the container's network namespace (from the host: the container itself
        has no NET_ADMIN to put it back), so it reaches only the subnets of its own networks.

        The project's engine runs without iptables (scripts/docker), so Docker's isolation between networks,
        `--internal` ones too, is not enforced: every container's default route is the host's bridge, and the
        host forwards between bridges. Without that route, a packet to another network has no way out.
        """
        pid = docker("inspect", "-f", "{{.State.Pid}}", name)
        proc = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "route", "del", "default"], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        if proc.returncode != 0 and "No such process" not in proc.stderr:  # "No such process": no default route
            raise DockerError(f"cannot cut the default route of {name} (needs root, nsenter and ip): {proc.stderr}")

    def ip(self, name: str, network: str | None = None) -> str:
        """The container's address on ``network`` (default: its first)."""
        if network is not None:
            return docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', name)
        return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name).split()[0]

    def logs(self, name: str) -> str:
        return subprocess.run(
            ["docker", "logs", "--tail", "60", name],
            env={**os.environ, "DOCKER_HOST": DOCKER_HOST},
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout

    def kafka(
        self, name: str, image: str, network: str, timeout: float = 180, options: tuple[str, ...] = (), also: tuple[str, ...] = ()
    ) -> str:
        """A broker of the Kafka image on ``network`` (and ``also``); ``ip:9092`` (its address on ``network``)
        once it accepts connections."""
        full = self.start(name, image, network, options=options, also=also)
        address = f"{self.ip(full, network)}:9092"
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
