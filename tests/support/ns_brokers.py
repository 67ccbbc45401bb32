"""A Kafka broker per party inside the party's network namespace (tests/support/netns.py), and its crashes.

The brokers are scripts/kafka's own, under names of this network (``faults-<tag>-<role>``, data in
``.run/kafka/<name>/``), listening on the party's address: never the shared guest/host/host2 brokers, whose
fixed ports belong to other tests. ``kill()`` is a SIGKILL of the broker's JVM (no shutdown, no flush),
``up()`` starts it again on its data. ``small_disk(mb)`` puts its data on a tmpfs of that size, which
``fill_disk()`` fills (Kafka then fails its log dir and stops: "No space left on device") and ``free_disk()``
empties again.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import KAFKA_CONTROLLER_PORT, KAFKA_PORT, Network, PartyNet, sh

REPO = Path(__file__).resolve().parents[2]
KAFKA = str(REPO / "scripts" / "kafka")


@dataclass(frozen=True)
class NamespacedBroker:
    name: str
    party: PartyNet
    conf: Path

    @property
    def address(self) -> str:
        return self.party.broker

    @property
    def dir(self) -> Path:
        return REPO / ".run" / "kafka" / self.name

    def _kafka(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, "POWERFL_KAFKA_CONF": str(self.conf), "POWERFL_KAFKA_HOST": self.party.address}
        return sh(KAFKA, *args, ns=self.party.ns, env=env, check=check, timeout=300).stdout

    def up(self) -> None:
        self._kafka("up", self.name, "--timeout", "120")

    def pid(self) -> int | None:
        try:
            pid = int((self.dir / "broker.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL the broker's JVM and wait until it is gone."""
        pid = self.pid()
        assert pid is not None, f"broker {self.name} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def down(self, clean: bool = True) -> None:
        self._kafka("down", self.name, check=False)
        if os.path.ismount(self.data):
            sh("umount", str(self.data), check=False)
        if clean:
            self._kafka("down", self.name, "--clean", check=False)

    # ------------------------------------------------------------ a disk of its own
    @property
    def data(self) -> Path:
        return self.dir / "data"

    def small_disk(self, mb: int) -> None:
        """Stop the broker, move its data onto a tmpfs of `mb` MB mounted in its place, start it again."""
        self.down(clean=False)
        moved = self.dir / "data.moved"
        self.data.rename(moved)
        self.data.mkdir()
        sh("mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(self.data))
        # sparse: Kafka's index files are 10 MB each, sparse; a plain copy makes them whole and fills the disk
        sh("cp", "-a", "--sparse=always", f"{moved}/.", str(self.data))
        shutil.rmtree(moved)
        self.up()

    def fill_disk(self) -> None:
        """Write a filler file until the broker's disk (small_disk) has no byte left."""
        with (self.data / "filler").open("wb", buffering=0) as out:  # unbuffered: the close has nothing left to write
            block = b"\0" * 2**20
            try:
                while True:
                    out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def free_disk(self) -> None:
        (self.data / "filler").unlink(missing_ok=True)


def brokers_for(network: Network, root: Path) -> dict[str, NamespacedBroker]:
    """One broker per party of `network` (not started), with their scripts/kafka table in `root`."""
    sh(KAFKA, "libs", timeout=600)  # the jars come from Maven Central, which a party's namespace cannot reach
    conf = root / "brokers.conf"
    names = {role: f"faults-{network.tag}-{role}" for role in network.parties}
    conf.write_text("".join(f"{name} {KAFKA_PORT} {KAFKA_CONTROLLER_PORT} plaintext\n" for name in names.values()))
    return {role: NamespacedBroker(name, network.parties[role], conf) for role, name in names.items()}
