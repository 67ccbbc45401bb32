"""Two parties rendered by ``deploy.sh --dry-run`` from seed-style environment files, no cluster needed.

Party 10000 (guest) and party 20000 (host) each get an environment file as the seed writes it (the seed's
variables, one with ``export`` lines) plus the partner's public key, broker CA and Kafka password file.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from airflow_provider_powerfl.federation.keys import SigningKey

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "powerfl"
DEPLOY = REPO / "deploy.sh"


@dataclass(frozen=True)
class Party:
    """One party's seed variables."""

    id: str
    role: str
    domain: str
    node_port: int
    http_port: int

    @property
    def namespace(self) -> str:
        return f"power-fl-{self.id}"

    @property
    def exposed_broker(self) -> str:
        """PARTY_MQ_PROXY_URL_<id> at the other party: the NodePort of this party's SASL_SSL listener."""
        return f"{self.domain}:{self.node_port}"


GUEST = Party("10000", "guest", "fl.bank.example", 30091, 30081)
HOST = Party("20000", "host", "fl.partner.example", 30191, 30181)
PARTNER = {GUEST.id: HOST, HOST.id: GUEST}


@dataclass(frozen=True)
class Manifest:
    """The objects of one rendering, in helm's order."""

    objects: list[dict]

    @classmethod
    def parse(cls, text: str) -> Manifest:
        return cls([doc for doc in yaml.safe_load_all(text) if doc])

    def get(self, kind: str, name: str) -> dict:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects, expected one ({self.names()})"
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(o["kind"] == kind and o["metadata"]["name"] == name for o in self.objects)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def names(self) -> list[str]:
        return [f"{o['kind']}/{o['metadata']['name']}" for o in self.objects]


@dataclass(frozen=True)
class EnvFiles:
    """Writes seed-style environment files and the partner files they name, in one directory."""

    root: Path

    def partner_files(self, party: Party) -> dict[str, Path]:
        """What a partner hands over: its public key, its broker's CA, the password of this party's Kafka user."""
        folder = self.root / "partners"
        folder.mkdir(exist_ok=True)
        files = {
            "key": folder / f"{party.id}.pub",
            "ca": folder / f"{party.id}-ca.pem",
            "password": folder / f"{party.id}.password",
        }
        if not files["key"].exists():
            files["key"].write_text(SigningKey.generate().public_key.pem() + "\n")
            files["ca"].write_text(f"-----BEGIN CERTIFICATE-----\nCA-OF-{party.id}\n-----END CERTIFICATE-----\n")
            files["password"].write_text(f"kafka-password-of-{party.id}-for-its-partner\n")
        return files

    def seed(self, me: Party, **override: str | None) -> dict[str, str]:
        """The seed's variables for ``me`` and its partner, plus the partner's files; None in ``override`` drops one."""
        partner = PARTNER[me.id]
        files = self.partner_files(partner)
        env = {
            "PARTY_ID": me.id,
            "DOMAIN": me.domain,
            "INTERNAL_MQ_HOST": f"powerfl-kafka.{me.namespace}.svc.cluster.local",
            "INTERNAL_MQ_TCP_PORT": "9092",
            "EXPOSE_MQ_HTTP_PORT": str(me.http_port),
            "EXPOSE_MQ_TCP_PORT": str(me.node_port),
            "DISABLED_COMPONENTS": "",
            "OTHER_PARTIES": partner.id,
            f"PARTY_MQ_HTTP_URL_{partner.id}": f"http://{partner.domain}:{partner.http_port}",
            f"PARTY_MQ_PROXY_URL_{partner.id}": partner.exposed_broker,
            "PARTY_ROLE": me.role,
            f"PARTY_ROLE_{partner.id}": partner.role,
            f"PARTY_PUBLIC_KEY_{partner.id}": str(files["key"]),
            f"PARTY_MQ_CA_{partner.id}": str(files["ca"]),
            f"PARTY_MQ_PASSWORD_FILE_{partner.id}": str(files["password"]),
        }
        env.update(override)
        return {name: value for name, value in env.items() if value is not None}

    def write(self, name: str, env: dict[str, str], *, export: bool = False) -> Path:
        prefix = "export " if export else ""
        path = self.root / name
        lines = ["# a party's environment, as the seed writes it"]
        lines += [f"{prefix}{key}={_quoted(value)}" for key, value in env.items()]
        path.write_text("\n".join(lines) + "\n")
        return path


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def deploy(
    helm: Path, *args: str | Path, check: bool = True, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """deploy.sh with ``helm`` (its directory first on PATH, for a stand-in kubectl beside it), no terminal, and
    none of the seed's variables inherited from this process unless ``extra_env`` sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTY_", "OTHER_", "DOMAIN", "INTERNAL_MQ", "EXPOSE_MQ"))}
    env.update(HELM=str(helm), PATH=f"{helm.parent}:{env['PATH']}", **(extra_env or {}))
    done = subprocess.run(
        [DEPLOY, *map(str, args)], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False, timeout=120
    )
    if check:
        assert done.returncode == 0, f"deploy.sh {' '.join(map(str, args))} failed:\n{done.stderr}"
    return done
