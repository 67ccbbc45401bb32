"""The parties of a deployment: who they are, where their Kafka is, how to check their signatures.

A sender produces to the receiver's broker with the receiver's entry (address
and security settings); a party reads its own inbox with its own entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import VerifyKey

# registry spelling -> kafka-python keyword (same for producer, consumer and admin client)
SECURITY_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "security_protocol": "security_protocol",
        "sasl_mechanism": "sasl_mechanism",
        "sasl_username": "sasl_plain_username",
        "sasl_plain_username": "sasl_plain_username",
        "sasl_password": "sasl_plain_password",
        "sasl_plain_password": "sasl_plain_password",
        "sasl_kerberos_service_name": "sasl_kerberos_service_name",
        "ssl_cafile": "ssl_cafile",
        "ssl_certfile": "ssl_certfile",
        "ssl_keyfile": "ssl_keyfile",
        "ssl_password": "ssl_password",
        "ssl_crlfile": "ssl_crlfile",
        "ssl_check_hostname": "ssl_check_hostname",
    }
)
_FIELDS = {"role", "roles", "bootstrap_servers", "public_key", "security"}


@dataclass(frozen=True)
class PartyInfo:
    """One party: id, roles, its broker and the public key its messages are signed with."""

    party_id: str
    roles: tuple[str, ...]
    bootstrap_servers: str  # "host:port[,host:port...]" of this party's own Kafka
    public_key: str  # PEM text, or the path of a .pub file
    security: Mapping[str, Any] = field(default_factory=dict)  # kafka-python keywords

    def verify_key(self) -> VerifyKey:
        try:
            return VerifyKey.load(self.public_key)
        except ConfigError as exc:
            raise ConfigError(f"party {self.party_id}: {exc}") from exc

    def kafka_config(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients talking to this party's broker."""
        return {"bootstrap_servers": self.bootstrap_servers.split(","), **self.security}


class PartyRegistry:
    """Parties by id; an unknown id raises ConfigError naming it."""

    def __init__(self, parties: Mapping[str, PartyInfo]) -> None:
        self._parties = dict(parties)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | os.PathLike[str] | None = None) -> PartyRegistry:
        """Build from {"parties": {id: {...}}}; relative key and SSL file paths resolve against base_dir."""
        if not isinstance(data, Mapping) or not isinstance(data.get("parties"), Mapping) or not data["parties"]:
            raise ConfigError("registry needs a non-empty 'parties' mapping of party id -> settings")
        base = Path(base_dir) if base_dir is not None else None
        return cls({str(pid): _party(str(pid), entry, base) for pid, entry in data["parties"].items()})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PartyRegistry:
        path = Path(path)
        data = load_config_file(path, "party registry")
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"party registry {path}: {exc}") from exc

    def get(self, party_id: str) -> PartyInfo:
        try:
            return self._parties[party_id]
        except KeyError:
            raise ConfigError(f"party {party_id!r} is not in the registry (known: {sorted(self._parties)})") from None

    def __contains__(self, party_id: object) -> bool:
        return party_id in self._parties

    def __iter__(self) -> Iterator[str]:
        return iter(self._parties)

    def __len__(self) -> int:
        return len(self._parties)

    def roles(self) -> dict[str, str]:
        """Each party's first role: the default parties of a job."""
        return {pid: info.roles[0] for pid, info in self._parties.items()}


def _party(party_id: str, entry: Any, base: Path | None) -> PartyInfo:
    where = f"parties.{party_id}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(str(key) for key in set(entry) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where} has unknown fields {unknown} (allowed: {sorted(_FIELDS)})")
    roles = entry.get("roles", [entry["role"]] if "role" in entry else None)
    if isinstance(roles, str):
        roles = [roles]
    if not roles or not all(isinstance(r, str) and r for r in roles):
        raise ConfigError(f"{where}.role(s) must name at least one role, e.g. guest or host")
    servers = entry.get("bootstrap_servers")
    if isinstance(servers, (list, tuple)):
        servers = ",".join(str(s) for s in servers)
    if not isinstance(servers, str) or not servers:
        raise ConfigError(f"{where}.bootstrap_servers must be host:port of the party's own Kafka")
    public_key = entry.get("public_key")
    if not isinstance(public_key, str) or not public_key:
        raise ConfigError(f"{where}.public_key must be a PEM text or the path of the party's .pub file")
    if "-----BEGIN" not in public_key:
        public_key = str(_resolve(public_key, base, f"{where}.public_key"))
    security = entry.get("security") or {}
    if not isinstance(security, Mapping):
        raise ConfigError(f"{where}.security must be a mapping")
    kafka_security: dict[str, Any] = {}
    for key, value in security.items():
        if key not in SECURITY_KEYS:
            raise ConfigError(f"{where}.security.{key} is not supported (allowed: {sorted(SECURITY_KEYS)})")
        if key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile"):
            value = str(_resolve(value, base, f"{where}.security.{key}"))
        kafka_security[SECURITY_KEYS[key]] = value
    return PartyInfo(party_id, tuple(roles), servers, public_key, MappingProxyType(kafka_security))


def _resolve(path: object, base: Path | None, where: str) -> Path:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where} must be a file path, got {path!r}")
    try:
        resolved = Path(path).expanduser()
    except RuntimeError as exc:  # ~user of no such user
        raise ConfigError(f"{where}: cannot expand {path!r}: {exc}") from exc
    return resolved if resolved.is_absolute() or base is None else base / resolved
