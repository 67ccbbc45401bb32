"""The `powerfl` connection: who this party is and how it reaches its own Kafka."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.policy import PartyPolicy

ROLES = ("guest", "host", "arbiter")
RUNTIMES = ("local", "kubernetes")


@dataclass(frozen=True)
class PartyConnection:
    """This party's settings as read from a `powerfl` Airflow connection."""

    conn_id: str
    party_id: str
    role: str
    bootstrap_servers: str
    registry_path: str | None = None
    private_key_path: str | None = None
    runtime: str = "local"
    kafka_security: dict[str, str] = field(default_factory=dict)
    policy: PartyPolicy = field(default_factory=PartyPolicy)

    @classmethod
    def from_connection(cls, conn: Any) -> PartyConnection:
        """Validate a connection's fields; errors name the connection and the field."""
        extra = conn.extra_dejson or {}

        def fail(name: str, problem: str) -> ConfigError:
            return ConfigError(f"connection {conn.conn_id!r} field {name!r}: {problem}")

        party_id = str(extra.get("party_id") or "").strip()
        if not party_id:
            raise fail("party_id", "must be set (this party's id, e.g. 10000)")
        role = extra.get("role") or ""
        if role not in ROLES:
            raise fail("role", f"expected one of {'|'.join(ROLES)}, got {role!r}")
        if not conn.host:
            raise fail("host", "must hold this party's Kafka bootstrap servers, e.g. 127.0.0.1:19092")
        runtime = extra.get("runtime") or "local"
        if runtime not in RUNTIMES:
            raise fail("runtime", f"expected one of {'|'.join(RUNTIMES)}, got {runtime!r}")
        security = {"security_protocol": extra.get("security_protocol") or "PLAINTEXT"}
        for key in ("sasl_mechanism", "ssl_cafile"):
            if extra.get(key):
                security[key] = extra[key]
        if conn.login:
            security["sasl_plain_username"] = conn.login
        if conn.password:
            security["sasl_plain_password"] = conn.password
        return cls(
            conn_id=conn.conn_id,
            party_id=party_id,
            role=role,
            bootstrap_servers=conn.host,
            registry_path=extra.get("registry_path") or None,
            private_key_path=extra.get("private_key_path") or None,
            runtime=runtime,
            kafka_security=security,
            policy=_policy(extra, fail),
        )


def _policy(extra: dict[str, Any], fail: Any) -> PartyPolicy:
    """The party's privacy policy: inline in field ``policy`` or in the YAML/JSON file ``policy_path`` names; default the strictest."""
    inline, path = extra.get("policy"), extra.get("policy_path")
    if inline is not None and path:
        raise fail("policy_path", "give either policy or policy_path, not both")
    where = "policy"
    if path:
        try:
            inline = load_config_file(Path(path), "policy file")
        except ConfigError as exc:
            raise fail("policy_path", str(exc)) from exc
        where = f"policy_path ({path})"
    elif isinstance(inline, str):  # the UI's extra may hold it as JSON text
        try:
            inline = json.loads(inline)
        except ValueError as exc:
            raise fail("policy", f"not valid JSON: {exc}") from exc
    try:
        return PartyPolicy.parse({} if inline is None else inline)
    except ConfigError as exc:
        raise fail(where, str(exc)) from exc


class PowerFLPartyHook(BaseHook):
    """
    Read this party's `powerfl` connection.

    :param powerfl_conn_id: id of a connection of type ``powerfl``.
    """

    conn_name_attr = "powerfl_conn_id"
    default_conn_name = "powerfl_default"
    conn_type = "powerfl"
    hook_name = "PowerFL party"

    def __init__(self, powerfl_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.powerfl_conn_id = powerfl_conn_id

    def get_party(self) -> PartyConnection:
        return PartyConnection.from_connection(self.get_connection(self.powerfl_conn_id))

    def test_connection(self) -> tuple[bool, str]:
        """Check the fields and that this party's own broker answers."""
        from kafka import KafkaAdminClient

        try:
            party = self.get_party()
            admin = KafkaAdminClient(
                bootstrap_servers=party.bootstrap_servers.split(","),
                request_timeout_ms=5000,
                api_version_auto_timeout_ms=5000,
                **party.kafka_security,
            )
            admin.list_topics()
            admin.close()
        except Exception as err:  # reported to the UI, not raised
            return False, str(err)
        return True, f"party {party.party_id} ({party.role}) reaches Kafka at {party.bootstrap_servers}"
