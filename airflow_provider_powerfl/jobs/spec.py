"""The task spec: the one file each party's Spark step is given.

A spec says who this party is in which job, who the other parties are and
how to reach them, what data to read and where to write. It is built by the
Airflow operators from the DAG run conf and read by ``spark_jobs``. Pure
Python on purpose: it is imported by both sides and by the protocol tests.

Every part is a :class:`~airflow_provider_powerfl.validation.Contract` (unknown keys refused, immutable).
Every validation error is a :class:`ConfigError` whose message starts with the
exact field path, e.g. ``parties[1].role: Input should be 'guest', 'host' or
'arbiter', got 'hots'``, so a wrong DAG run conf can be fixed without reading code.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, ModelWrapValidatorHandler, StrictInt, model_validator

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.data_spec import DEFAULT_MISSING_VALUES, FORMATS, DataSpec, MissingPolicy
from airflow_provider_powerfl.jobs.kafka_security import PASSWORD_FIELDS, SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaSecurity
from airflow_provider_powerfl.validation import Contract, Text, field_error, parse

__all__ = [
    "DEFAULT_MISSING_VALUES",
    "FORMATS",
    "NONCE_HEX_DIGITS",
    "PASSWORD_FIELDS",
    "ROLES",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "DataSpec",
    "KafkaSecurity",
    "MissingPolicy",
    "OutputSpec",
    "PartySpec",
    "TaskSpec",
    "parse_nonce",
    "parse_party_roles",
]

Role = Literal["guest", "host", "arbiter"]
ROLES = get_args(Role)
_PEM_MARK = "-----BEGIN "

# The run nonce every message of one run carries (federation.envelope.NONCE_SIZE bytes), as hex in specs and confs.
NONCE_HEX_DIGITS = 32


def _hex_nonce(value: Any) -> str:
    if not isinstance(value, str) or len(value) != NONCE_HEX_DIGITS or not set(value) <= set(string.hexdigits):
        raise ValueError(f"expected the run's nonce, {NONCE_HEX_DIGITS} hex digits, got {value!r}")
    return value.lower()


def parse_nonce(value: Any, where: str) -> str:
    """A run nonce: 32 hex digits (16 bytes), lower case."""
    try:
        return _hex_nonce(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_party_roles(items: Iterable[str] | str, path: str = "parties") -> dict[str, str]:
    """Parse PowerFL's ``["10000=guest", "20000=host"]`` into ``{"10000": "guest", ...}``.

    A single comma-separated string (``"10000=guest,20000=host"``) is accepted
    too, as PowerFL's command line writes it. Order is kept.
    """
    if isinstance(items, str):
        items = [part.strip() for part in items.split(",")] if items.strip() else []
    elif not isinstance(items, (list, tuple)):
        raise ConfigError(f"{path}: expected a list like ['10000=guest', '20000=host'], got {items!r}")
    roles: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, str) or item.count("=") != 1:
            raise ConfigError(f"{where}: expected '<party id>=<role>', got {item!r}")
        party_id, role = (part.strip() for part in item.split("="))
        if not party_id:
            raise ConfigError(f"{where}: empty party id in {item!r}")
        if role not in ROLES:
            raise ConfigError(f"{where}: expected {'|'.join(ROLES)}, got {role!r}")
        if party_id in roles:
            raise ConfigError(f"{where}: duplicate party id {party_id!r}")
        roles[party_id] = role
    if not roles:
        raise ConfigError(f"{path}: no parties")
    return roles


def _int_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _host_port(server: str) -> str:
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected 'host:port', got {server!r}")
    return server


def _comma_list(value: Any) -> Any:
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else value


PartyId = Annotated[Text, BeforeValidator(_int_as_text)]  # YAML reads 10000 as a number
Servers = Annotated[tuple[Annotated[Text, AfterValidator(_host_port)], ...], BeforeValidator(_comma_list), Field(min_length=1)]
Nonce = Annotated[str, BeforeValidator(_hex_nonce)]


class PartySpec(Contract):
    """One party of the job, as every other party sees it."""

    id: PartyId
    role: Role
    bootstrap_servers: Servers  # 'host:port', a list of them or one comma-separated string
    public_key: Text  # the PEM itself or a path to it
    security: KafkaSecurity | None = None

    @property
    def public_key_is_pem(self) -> bool:
        """True when ``public_key`` holds the PEM itself rather than a path to it."""
        return self.public_key.lstrip().startswith(_PEM_MARK)

    @classmethod
    def from_dict(cls, data: Any, path: str = "party") -> PartySpec:
        return parse(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class OutputSpec(Contract):
    """Where this party's step writes: one directory, replaced as a whole."""

    dir: Text

    @classmethod
    def from_dict(cls, data: Any, path: str = "outputs") -> OutputSpec:
        return parse(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class TaskSpec(Contract):
    """Everything one party's step of one job attempt needs."""

    job_id: Text
    attempt: Annotated[StrictInt, Field(ge=1)] = 1
    party_id: PartyId
    role: Role | None = None  # may be left out: it is the one ``parties`` gives ``party_id`` (always set once read)
    private_key: Text
    parties: Annotated[tuple[PartySpec, ...], Field(min_length=1)]
    inputs: dict[Text, DataSpec] = {}
    outputs: OutputSpec
    nonce: Nonce  # the run's, from the initiator's invitation: binds every message to this run
    params: dict[str, Any] = {}
    task_id: Text | None = None  # the pipeline task (Airflow task id) this step runs: its progress reports name it

    @model_validator(mode="wrap")
    @classmethod
    def _parties_agree(cls, data: Any, handler: ModelWrapValidatorHandler[TaskSpec]) -> TaskSpec:
        """Party ids once each, exactly one guest, this party among them and in the role they give it."""
        spec = handler(data)
        seen: dict[str, int] = {}
        for i, party in enumerate(spec.parties):
            if party.id in seen:
                raise field_error(("parties", i, "id"), f"duplicate party id {party.id!r} (also parties[{seen[party.id]}])")
            seen[party.id] = i
        guests = sum(party.role == "guest" for party in spec.parties)
        if guests != 1:
            raise field_error("parties", f"expected exactly one guest, got {guests}")
        if spec.party_id not in seen:
            raise field_error("party_id", f"{spec.party_id!r} is not among the parties ({', '.join(seen)})")
        own = spec.parties[seen[spec.party_id]].role
        if spec.role is not None and spec.role != own:
            raise field_error("role", f"{spec.role!r} but parties[{seen[spec.party_id]}] says {spec.party_id!r} is {own!r}")
        return spec if spec.role is not None else spec.model_copy(update={"role": own})

    @classmethod
    def from_dict(cls, data: Any) -> TaskSpec:
        return parse(cls, data, "")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.model_dump(mode="json", exclude={"parties", "inputs", "params"}),
            "parties": [party.to_dict() for party in self.parties],
            "inputs": {name: spec.to_dict() for name, spec in self.inputs.items()},
            "params": dict(self.params),
        }

    @classmethod
    def load(cls, path: str | Path) -> TaskSpec:
        """Read a spec file: JSON when it ends in ``.json``, YAML otherwise."""
        path = Path(path)
        data = load_config_file(path, "task spec")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"task spec {path}: {exc}") from exc

    def dump(self, path: str | Path) -> None:
        """Write the spec as JSON (``.json``) or YAML (anything else)."""
        path = Path(path)
        data = self.to_dict()
        if path.suffix == ".json":
            text = json.dumps(data, indent=2) + "\n"
        else:
            text = yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")

    # ------------------------------------------------------------ look-ups
    @property
    def me(self) -> PartySpec:
        """This party's own entry of ``parties``."""
        return self.party(self.party_id)

    def party(self, party_id: str) -> PartySpec:
        for party in self.parties:
            if party.id == party_id:
                return party
        raise ConfigError(f"parties: no party {party_id!r} in job {self.job_id}")

    def peers(self, role: str | None = None) -> list[PartySpec]:
        """The other parties, sorted by id, optionally only those of one role."""
        others = [p for p in self.parties if p.id != self.party_id and (role is None or p.role == role)]
        return sorted(others, key=lambda p: p.id)

    def input(self, name: str) -> DataSpec:
        """The input called ``name``; a ConfigError naming it when the spec has none."""
        try:
            return self.inputs[name]
        except KeyError:
            have = ", ".join(sorted(self.inputs)) or "none"
            raise ConfigError(f"inputs.{name}: missing (this spec has: {have})") from None
