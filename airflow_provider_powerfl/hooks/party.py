"""The `powerfl` connection: who this party is, where its party registry and signing key are, its policy and
its own pod settings for the Kubernetes runtime, and which ``aws`` connection holds its object store's credentials.

This party's Kafka is its entry in the registry (the same file every party
holds), looked up by the connection's party id: one record of each broker.
The ``kubernetes`` mapping (fields of ``runtimes.kubernetes.KubernetesSettings``:
namespace, service_account, image, secrets ...) is where this party's step pods
run, in jobs it starts and in jobs it is invited to alike; it wins over a job
conf's ``kubernetes`` (the party's own settings beat the job's, as its policy does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.spec import ROLES
from airflow_provider_powerfl.policy import PartyPolicy
from airflow_provider_powerfl.runtimes.kubernetes import KubernetesSettings

RUNTIMES = ("local", "kubernetes")
# connection fields that once described this party's Kafka; the registry entry does now
_KAFKA_FIELDS = ("security_protocol", "sasl_mechanism", "ssl_cafile")


@dataclass(frozen=True)
class EnclaveHost:
    """The enclave host this party operates (connection field ``enclave_host``): its own party id and key in the
    registry, and the measured enclave app (``python -m enclave.measure``) it launches for ``enclave`` steps."""

    party_id: str
    private_key_path: str
    measured: str
    pccs_url: str | None = None


@dataclass(frozen=True)
class PartyConnection:
    """This party's settings as read from a `powerfl` Airflow connection."""

    conn_id: str
    party_id: str
    role: str
    bootstrap_servers: str | None = None  # the connection's host: if set, it must be the registry entry's
    registry_path: str | None = None
    private_key_path: str | None = None
    runtime: str = "local"
    policy: PartyPolicy = field(default_factory=PartyPolicy)
    kubernetes: dict[str, Any] = field(default_factory=dict)  # this party's own pod settings (checked), applied last
    aws_conn_id: str | None = None  # an ``aws`` connection: the object store's credentials for its steps (hooks.storage)
    tee_policy_path: str | None = None  # this party's own TEE policy file (tee.policy): what an enclave may get
    enclave_host: EnclaveHost | None = None  # the enclave host this party operates, if any
    step_server: str | None = None  # Unix socket of this party's warm step server (runtimes.step_server) for local steps

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
        runtime = extra.get("runtime") or "local"
        if runtime not in RUNTIMES:
            raise fail("runtime", f"expected one of {'|'.join(RUNTIMES)}, got {runtime!r}")
        for name, value in (*((k, extra.get(k)) for k in _KAFKA_FIELDS), ("login", conn.login), ("password", conn.password)):
            if value:
                raise fail(
                    name, f"this party's Kafka settings are its registry entry's (parties.{party_id}.security); remove it here"
                )
        return cls(
            conn_id=conn.conn_id,
            party_id=party_id,
            role=role,
            bootstrap_servers=conn.host or None,
            registry_path=extra.get("registry_path") or None,
            private_key_path=extra.get("private_key_path") or None,
            runtime=runtime,
            policy=_policy(extra, fail),
            kubernetes=_kubernetes(extra, fail),
            aws_conn_id=_conn_id(extra, "aws_conn_id", fail),
            tee_policy_path=extra.get("tee_policy_path") or None,
            enclave_host=_enclave_host(extra, fail),
            step_server=_step_server(extra, fail),
        )


def load_registry(party: PartyConnection) -> PartyRegistry:
    """The registry the connection names, holding this party; the connection's host, if set, must agree with its entry."""
    if not party.registry_path:
        raise ConfigError(f"connection {party.conn_id!r} field 'registry_path': must name the party registry")
    registry = PartyRegistry.from_yaml(party.registry_path)
    if party.party_id not in registry:
        raise ConfigError(
            f"connection {party.conn_id!r} field 'party_id': party {party.party_id} is not in the registry {party.registry_path}"
        )
    listed = registry.get(party.party_id).bootstrap_servers
    if party.bootstrap_servers and _servers(party.bootstrap_servers) != _servers(listed):
        raise ConfigError(
            f"connection {party.conn_id!r} field 'host': {party.bootstrap_servers!r} contradicts this party's broker in "
            f"{party.registry_path} (parties.{party.party_id}.bootstrap_servers: {listed!r}); the registry's entry is the "
            "one record of it: clear the host or make it the same"
        )
    return registry


def load_signing_key(party: PartyConnection) -> SigningKey:
    """This party's private signing key, from the file the connection names."""
    if not party.private_key_path:
        raise ConfigError(f"connection {party.conn_id!r} field 'private_key_path': must be set to sign messages")
    return SigningKey.from_file(party.private_key_path)


def _servers(text: str) -> set[str]:
    return {s.strip() for s in text.split(",") if s.strip()}


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


def _conn_id(extra: dict[str, Any], name: str, fail: Any) -> str | None:
    value = extra.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail(name, f"expected the id of an Airflow connection, got {value!r}")
    return value.strip()


def _kubernetes(extra: dict[str, Any], fail: Any) -> dict[str, Any]:
    """This party's pod settings for the Kubernetes runtime (field ``kubernetes``), checked here so that a bad one
    stops every task at its start with the field named, not a pod at the API server."""
    value = extra.get("kubernetes")
    if value is None:
        return {}
    if isinstance(value, str):  # the UI's extra may hold it as JSON text
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise fail("kubernetes", f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise fail("kubernetes", "expected a mapping of pod settings (namespace, service_account, image, ...)")
    try:
        KubernetesSettings().updated(value, "kubernetes")
    except ConfigError as exc:
        name, _, problem = str(exc).partition(": ")
        raise fail(name, problem) from exc
    return dict(value)


def _step_server(extra: dict[str, Any], fail: Any) -> str | None:
    value = extra.get("step_server")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise fail("step_server", f"expected the absolute path of the step server's Unix socket, got {value!r}")
    return value


def _enclave_host(extra: dict[str, Any], fail: Any) -> EnclaveHost | None:
    value = extra.get("enclave_host")
    if value is None:
        return None
    if isinstance(value, str):  # the UI's extra may hold it as JSON text
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise fail("enclave_host", f"not valid JSON: {exc}") from exc
    fields = {"party_id", "private_key_path", "measured", "pccs_url"}
    if not isinstance(value, dict) or not {"party_id", "private_key_path", "measured"} <= set(value) <= fields:
        raise fail("enclave_host", f"expected a mapping of party_id, private_key_path, measured (and pccs_url), got {value!r}")
    return EnclaveHost(**{k: str(v) for k, v in value.items() if v is not None})


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
        """Check the fields, the registry, and that this party's own broker (its registry entry) answers."""
        from kafka import KafkaAdminClient

        try:
            party = self.get_party()
            kafka = load_registry(party).get(party.party_id).kafka_config()
            admin = KafkaAdminClient(**kafka, request_timeout_ms=5000, api_version_auto_timeout_ms=5000)
            admin.list_topics()
            admin.close()
        except Exception as err:  # noqa: BLE001 - reported to the UI, not raised
            return False, str(err)
        return True, f"party {party.party_id} ({party.role}) reaches Kafka at {','.join(kafka['bootstrap_servers'])}"
