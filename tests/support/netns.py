"""Parties in their own Linux network namespaces, joined by veth links through a router namespace, and faults on them.

Each party's namespace holds its Kafka broker, its Airflow and (inherited) its Spark steps. Its firewall
(nftables, inside the namespace) accepts from the other parties only the Kafka listener's port; everything
else from outside comes only from the test process (the root namespace, for the REST API), and the
namespace's own traffic stays on its loopback. The parties' links meet in a router namespace, so forwarding
and the faults never touch the root namespace's own firewall or ``ip_forward``::

    root ns  10.B.0.1 ── 10.B.0.2  router ns  10.B.i.1 ── 10.B.i.2  party i ns (broker :9092, Airflow :port)

Faults (all in the router, so the test process still reaches every party's API): ``cut(a, b)`` drops every
packet between two parties until ``heal()``; ``loss(a, b, percent)`` drops that share at random. Latency:
``tc netem`` is missing on this kernel (CONFIG_NET_SCH_NETEM is not set), so ``delay(a, b, seconds)`` sends
the Kafka connections opened between two parties from then on through a relay in the router that holds every
byte back that long each way (tests/support/delay_relay.py), until ``undelay()``.
Root only (``ip netns``, ``nft``); ``make test`` installs nftables.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
RELAY_PORT = 19092  # the delaying relay's, in the router namespace


def sh(*cmd: str, ns: str | None = None, stdin: str | None = None, check: bool = True, env: Mapping[str, str] | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run `cmd` (in namespace `ns`); a failure raises with its output."""
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    proc = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


@dataclass(frozen=True)
class PartyNet:
    """One party's namespace: its address (broker, Airflow), its link's name in the router."""

    role: str
    ns: str
    address: str
    router_side: str  # the link's interface in the router namespace

    @property
    def launcher(self) -> tuple[str, ...]:
        """Command prefix that runs a process in this party's namespace."""
        return ("ip", "netns", "exec", self.ns)

    @property
    def broker(self) -> str:
        return f"{self.address}:{KAFKA_PORT}"


def _free_block() -> int:
    """A second octet B with 10.B.0.0/16 on no interface or route here (several sessions may run side by side)."""
    used = sh("ip", "-4", "route", "show", "table", "all").stdout + sh("ip", "-4", "addr").stdout
    for _ in range(50):
        block = 200 + secrets.randbelow(50)
        if f"10.{block}." not in used:
            return block
    raise RuntimeError("no free 10.B.0.0/16 block for the parties' links")


class Network:
    """The router and one namespace per role; `create()` builds them, `destroy()` removes all of it."""

    def __init__(self, roles: Iterable[str]) -> None:
        self.tag = secrets.token_hex(2)
        self.block = _free_block()
        self.router = f"pfl{self.tag}-r"
        self.parties = {
            role: PartyNet(role, f"pfl{self.tag}-{role}", f"10.{self.block}.{i}.2", f"pf{self.tag}p{i}")
            for i, role in enumerate(roles, start=1)
        }
        self.gateway = f"10.{self.block}.0.1"  # the root namespace's end: the test process's address to the parties
        self._relay: subprocess.Popen[str] | None = None

    def create(self) -> Network:
        sh("ip", "netns", "add", self.router)
        sh("ip", "link", "set", "lo", "up", ns=self.router)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.router)
        root_end = f"pf{self.tag}r0"
        self._veth(root_end, f"pf{self.tag}r1", self.router)
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", root_end)
        sh("ip", "link", "set", root_end, "up")
        sh("ip", "addr", "add", f"10.{self.block}.0.2/24", "dev", f"pf{self.tag}r1", ns=self.router)
        sh("ip", "link", "set", f"pf{self.tag}r1", "up", ns=self.router)
        sh("ip", "route", "add", f"10.{self.block}.0.0/16", "via", f"10.{self.block}.0.2")
        for i, party in enumerate(self.parties.values(), start=1):
            self._party(i, party)
        sh("nft", "-f", "-", ns=self.router, stdin=ROUTER_RULES)
        return self

    def _veth(self, here: str, there: str, ns: str) -> None:
        sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
        sh("ip", "link", "set", there, "netns", ns)

    def _party(self, i: int, party: PartyNet) -> None:
        sh("ip", "netns", "add", party.ns)
        sh("ip", "link", "set", "lo", "up", ns=party.ns)
        inside = f"pf{self.tag}q{i}"
        self._veth(party.router_side, inside, party.ns)
        sh("ip", "link", "set", party.router_side, "netns", self.router)
        sh("ip", "addr", "add", f"10.{self.block}.{i}.1/24", "dev", party.router_side, ns=self.router)
        sh("ip", "link", "set", party.router_side, "up", ns=self.router)
        sh("ip", "addr", "add", f"{party.address}/24", "dev", inside, ns=party.ns)
        sh("ip", "link", "set", inside, "up", ns=party.ns)
        sh("ip", "route", "add", "default", "via", f"10.{self.block}.{i}.1", ns=party.ns)
        sh("nft", "-f", "-", ns=party.ns, stdin=PARTY_RULES.format(gateway=self.gateway, kafka=KAFKA_PORT))

    def destroy(self) -> None:
        """Remove every namespace and link of this network (processes still inside are the caller's to stop)."""
        self.undelay()
        for party in self.parties.values():
            sh("ip", "netns", "del", party.ns, check=False)
        sh("ip", "netns", "del", self.router, check=False)
        sh("ip", "link", "del", f"pf{self.tag}r0", check=False)

    # ------------------------------------------------------------ faults
    def cut(self, a: str, b: str) -> None:
        """Drop every packet between parties `a` and `b` (both ways) until `heal()`."""
        self._between(a, b, "drop")

    def loss(self, a: str, b: str, percent: int) -> None:
        """Drop `percent` % of the packets between `a` and `b`, at random, until `heal()`."""
        self._between(a, b, f"numgen random mod 100 < {int(percent)} drop")

    def delay(self, a: str, b: str, seconds: float) -> None:
        """Hold every byte of the Kafka connections `a` and `b` open to each other from now on back `seconds` each
        way (a round trip 2 x `seconds` longer), until `undelay()`; connections already open are not delayed."""
        assert self._relay is None, "one delay at a time"
        self._relay = subprocess.Popen(
            ["ip", "netns", "exec", self.router, sys.executable, "-m", "tests.support.delay_relay", str(RELAY_PORT),
             str(seconds)], stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        assert self._relay.stdout is not None and self._relay.stdout.readline().strip() == "relaying", "relay did not start"
        x, y = self.parties[a].address, self.parties[b].address
        redirects = "".join(
            f"ip saddr {src} ip daddr {dst} tcp dport {KAFKA_PORT} redirect to :{RELAY_PORT}\n" for src, dst in ((x, y), (y, x))
        )
        sh("nft", "-f", "-", ns=self.router, stdin=DELAY_RULES.format(redirects=redirects))

    def undelay(self) -> list[str]:
        """Stop the relay (the delayed connections break; Kafka's clients connect again, undelayed); the
        destinations (``address:port``) of the connections it relayed."""
        if self._relay is None:
            return []
        sh("nft", "delete", "table", "ip", "delay", ns=self.router, check=False)
        self._relay.kill()
        relayed, _ = self._relay.communicate()
        self._relay = None
        return relayed.split()

    def heal(self) -> None:
        sh("nft", "flush", "chain", "inet", "faults", "links", ns=self.router)

    def _between(self, a: str, b: str, verdict: str) -> None:
        x, y = self.parties[a].address, self.parties[b].address
        for src, dst in ((x, y), (y, x)):
            sh(
                "nft",
                "add",
                "rule",
                "inet",
                "faults",
                "links",
                "ip",
                "saddr",
                src,
                "ip",
                "daddr",
                dst,
                *verdict.split(),
                ns=self.router,
            )

    def rules(self, role: str) -> str:
        """The party's firewall as nft lists it (for docs and failure messages)."""
        return sh("nft", "list", "ruleset", ns=self.parties[role].ns).stdout


# Inside each party: the loopback, replies, the Kafka listener from anyone, anything from the test process.
PARTY_RULES = """
table inet party {{
    chain input {{
        type filter hook input priority 0; policy drop;
        iif lo accept
        ct state established,related accept
        tcp dport {kafka} accept
        ip saddr {gateway} accept
    }}
}}
"""
# Kafka connections between two parties go to the delaying relay (Network.delay).
DELAY_RULES = """
table ip delay {{
    chain prerouting {{
        type nat hook prerouting priority dstnat;
        {redirects}
    }}
}}
"""
# The router forwards everything but what a fault puts in `links`.
ROUTER_RULES = """
table inet faults {
    chain links { }
    chain forward {
        type filter hook forward priority 0; policy accept;
        jump links
    }
}
"""
