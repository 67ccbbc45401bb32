"""The task spec: the one file each party's Spark step is given.

A spec says who this party is in which job, who the other parties are and
how to reach them, what data to read and where to write. It is built by the
Airflow operators from the DAG run conf and read by ``spark_jobs``. Pure
Python on purpose: it is imported by both sides and by the protocol tests.

Every validation error is a :class:`ConfigError` whose message starts with the
exact field path, e.g. ``parties[1].role: expected guest|host|arbiter, got
'hots'``, so a wrong DAG run conf can be fixed without reading code.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError

ROLES = ("guest", "host", "arbiter")
FORMATS = ("csv", "libsvm", "parquet")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER")
# Tokens read as a missing value in text inputs unless the spec lists its own.
DEFAULT_MISSING_VALUES = ("", "NA", "NaN", "nan", "null", "NULL", "None")
_PEM_MARK = "-----BEGIN "

# The run nonce every message of one run carries (federation.envelope.NONCE_SIZE bytes), as hex in specs and confs.
NONCE_HEX_DIGITS = 32


# ---------------------------------------------------------------- field readers
def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected a mapping, got {type(value).__name__}")
    return value


def _no_unknown(data: Mapping[str, Any], known: Iterable[str], path: str) -> None:
    unknown = sorted(str(k) for k in data if k not in set(known))
    if unknown:
        where = f"{path}." if path else ""
        raise _fail(f"{where}{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})")


def _sub(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str(data: Mapping[str, Any], key: str, path: str, default: Any = ..., *, allow_int: bool = False) -> Any:
    """Read a non-empty string; ``default=...`` makes the field required."""
    where = _sub(path, key)
    if key not in data or data[key] is None:
        if default is ...:
            raise _fail(where, "missing")
        return default
    value = data[key]
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise _fail(where, "must not be empty")
    return value


def _bool(data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(_sub(path, key), f"expected true or false, got {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, path: str, default: Any = ..., *, minimum: int = 0) -> Any:
    where = _sub(path, key)
    if key not in data or data[key] is None:
        if default is ...:
            raise _fail(where, "missing")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"expected an integer, got {value!r}")
    if value < minimum:
        raise _fail(where, f"must be >= {minimum}, got {value}")
    return value


def _choice(value: str, choices: Iterable[str], where: str) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise _fail(where, f"expected {'|'.join(choices)}, got {value!r}")
    return value


def _str_list(data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    where = _sub(path, key)
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _fail(where, f"expected a list of strings, got {value!r}")
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _fail(f"{where}[{i}]", f"expected a non-empty string, got {item!r}")
        if item in seen:
            raise _fail(f"{where}[{i}]", f"duplicate {item!r}")
        seen.add(item)
    return tuple(value)


def parse_nonce(value: Any, where: str) -> str:
    """A run nonce: 32 hex digits (16 bytes), lower case."""
    if not isinstance(value, str) or len(value) != NONCE_HEX_DIGITS or not set(value) <= set(string.hexdigits):
        raise _fail(where, f"expected the run's nonce, {NONCE_HEX_DIGITS} hex digits, got {value!r}")
    return value.lower()


# ---------------------------------------------------------------- PowerFL list form
def parse_party_roles(items: Iterable[str] | str, path: str = "parties") -> dict[str, str]:
    """Parse PowerFL's ``["10000=guest", "20000=host"]`` into ``{"10000": "guest", ...}``.

    A single comma-separated string (``"10000=guest,20000=host"``) is accepted
    too, as PowerFL's command line writes it. Order is kept.
    """
    if isinstance(items, str):
        items = [part.strip() for part in items.split(",")] if items.strip() else []
    elif not isinstance(items, (list, tuple)):
        raise _fail(path, f"expected a list like ['10000=guest', '20000=host'], got {items!r}")
    roles: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, str) or item.count("=") != 1:
            raise _fail(where, f"expected '<party id>=<role>', got {item!r}")
        party_id, role = (part.strip() for part in item.split("="))
        if not party_id:
            raise _fail(where, f"empty party id in {item!r}")
        _choice(role, ROLES, where)
        if party_id in roles:
            raise _fail(where, f"duplicate party id {party_id!r}")
        roles[party_id] = role
    if not roles:
        raise _fail(path, "no parties")
    return roles


# ---------------------------------------------------------------- spec classes
PASSWORD_FIELDS = ("ssl_password", "sasl_plain_password")


@dataclass(frozen=True)
class KafkaSecurity:
    """kafka-python security settings of one party's broker (names as kafka-python's)."""

    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = field(default=None, repr=False)
    sasl_kerberos_service_name: str | None = None
    # not kafka-python's: files read at connect time (a mounted Kubernetes Secret), so no password sits in the spec
    ssl_password_file: str | None = None
    sasl_plain_password_file: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "security") -> KafkaSecurity:
        data = _mapping(data, path)
        _no_unknown(data, cls.__dataclass_fields__, path)
        protocol = _choice(_str(data, "security_protocol", path, "PLAINTEXT"), SECURITY_PROTOCOLS, _sub(path, "security_protocol"))
        mechanism = _str(data, "sasl_mechanism", path, None)
        if mechanism is not None:
            _choice(mechanism, SASL_MECHANISMS, _sub(path, "sasl_mechanism"))
        if protocol.startswith("SASL_") and mechanism is None:
            raise _fail(_sub(path, "sasl_mechanism"), f"missing (required with security_protocol {protocol})")
        security = cls(
            security_protocol=protocol,
            ssl_cafile=_str(data, "ssl_cafile", path, None),
            ssl_certfile=_str(data, "ssl_certfile", path, None),
            ssl_keyfile=_str(data, "ssl_keyfile", path, None),
            ssl_password=_str(data, "ssl_password", path, None),
            ssl_check_hostname=_bool(data, "ssl_check_hostname", path, True),
            sasl_mechanism=mechanism,
            sasl_plain_username=_str(data, "sasl_plain_username", path, None),
            sasl_plain_password=_str(data, "sasl_plain_password", path, None),
            sasl_kerberos_service_name=_str(data, "sasl_kerberos_service_name", path, None),
            ssl_password_file=_str(data, "ssl_password_file", path, None),
            sasl_plain_password_file=_str(data, "sasl_plain_password_file", path, None),
        )
        for name in PASSWORD_FIELDS:
            if getattr(security, name) is not None and getattr(security, f"{name}_file") is not None:
                raise _fail(_sub(path, f"{name}_file"), f"give either {name} or a file holding it, not both")
        return security

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if getattr(self, k) is not None}

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer/consumer, passwords read from their files."""
        kwargs = self.to_dict()
        for name in PASSWORD_FIELDS:
            path = kwargs.pop(f"{name}_file", None)
            if path is not None:
                try:
                    kwargs[name] = Path(path).read_text().rstrip("\n")
                except OSError as exc:
                    raise ConfigError(f"security.{name}_file: cannot read {path}: {exc.strerror}") from exc
        return kwargs


@dataclass(frozen=True)
class PartySpec:
    """One party of the job, as every other party sees it."""

    id: str
    role: str
    bootstrap_servers: tuple[str, ...]
    public_key: str
    security: KafkaSecurity | None = None

    @property
    def public_key_is_pem(self) -> bool:
        """True when ``public_key`` holds the PEM itself rather than a path to it."""
        return self.public_key.lstrip().startswith(_PEM_MARK)

    @classmethod
    def from_dict(cls, data: Any, path: str = "party") -> PartySpec:
        data = _mapping(data, path)
        _no_unknown(data, ("id", "role", "bootstrap_servers", "public_key", "security"), path)
        party_id = _str(data, "id", path, allow_int=True)
        role = _choice(_str(data, "role", path), ROLES, _sub(path, "role"))
        servers = _servers(data.get("bootstrap_servers"), _sub(path, "bootstrap_servers"))
        public_key = _str(data, "public_key", path)
        security = data.get("security")
        return cls(
            id=party_id,
            role=role,
            bootstrap_servers=servers,
            public_key=public_key,
            security=None if security is None else KafkaSecurity.from_dict(security, _sub(path, "security")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "role": self.role,
            "bootstrap_servers": list(self.bootstrap_servers),
            "public_key": self.public_key,
        }
        if self.security is not None:
            out["security"] = self.security.to_dict()
        return out


def _servers(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        raise _fail(where, "missing")
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(where, f"expected 'host:port' or a list of them, got {value!r}")
    for i, server in enumerate(value):
        host, sep, port = server.rpartition(":") if isinstance(server, str) else ("", "", "")
        if not sep or not host or not port.isdigit():
            raise _fail(f"{where}[{i}]", f"expected 'host:port', got {server!r}")
    return tuple(value)


@dataclass(frozen=True)
class MissingPolicy:
    """What to do with a missing feature value: ``error``, ``drop`` the row, or ``fill:<value>``."""

    action: str = "error"
    fill_value: float | None = None

    @classmethod
    def parse(cls, text: Any, where: str) -> MissingPolicy:
        if not isinstance(text, str):
            raise _fail(where, f"expected error|drop|fill:<number>, got {text!r}")
        if text in ("error", "drop"):
            return cls(text)
        if text.startswith("fill:"):
            try:
                value = float(text[5:])
            except ValueError:
                raise _fail(where, f"fill value is not a number in {text!r}") from None
            if not math.isfinite(value):
                raise _fail(where, f"fill value must be finite, got {text!r}")
            return cls("fill", value)
        raise _fail(where, f"expected error|drop|fill:<number>, got {text!r}")

    def __str__(self) -> str:
        return f"fill:{self.fill_value!r}" if self.action == "fill" else self.action


@dataclass(frozen=True)
class DataSpec:
    """One input table: where it is, its format and which columns mean what.

    ``label_column`` for libsvm only says whether each line carries a label
    after its id (any name will do; the column read is always ``label``).
    ``features``/``exclude`` pick feature columns of csv/parquet; neither
    means every column but id and label. ``index_base``/``num_features`` are
    for libsvm only.
    """

    uri: str
    format: str
    id_column: str = "id"
    label_column: str | None = None
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    delimiter: str = ","
    header: bool = True
    columns: tuple[str, ...] | None = None
    missing: MissingPolicy = MissingPolicy()
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES
    index_base: int = 1
    num_features: int | None = None

    _TEXT_ONLY = ("delimiter", "header", "columns")
    _LIBSVM_ONLY = ("index_base", "num_features")
    _TABULAR_ONLY = ("id_column", "features", "exclude", "delimiter", "header", "columns")

    @classmethod
    def from_dict(cls, data: Any, path: str = "input") -> DataSpec:
        data = _mapping(data, path)
        known = [k for k in cls.__dataclass_fields__ if not k.startswith("_")]
        _no_unknown(data, known, path)
        fmt = _choice(_str(data, "format", path), FORMATS, _sub(path, "format"))
        uri = _str(data, "uri", path)
        misplaced = {
            "csv": cls._LIBSVM_ONLY,
            "parquet": cls._LIBSVM_ONLY + cls._TEXT_ONLY,
            "libsvm": cls._TABULAR_ONLY,
        }[fmt]
        for key in misplaced:
            if key in data:
                raise _fail(_sub(path, key), f"not used with format {fmt}")
        features = _str_list(data, "features", path)
        exclude = _str_list(data, "exclude", path) or ()
        if features is not None and exclude:
            raise _fail(_sub(path, "exclude"), "give features or exclude, not both")
        if features is not None and not features:
            raise _fail(_sub(path, "features"), "must not be empty")
        delimiter = data.get("delimiter", ",")  # may be whitespace ("\t"), so not read with _str
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise _fail(_sub(path, "delimiter"), f"expected one character, got {delimiter!r}")
        header = _bool(data, "header", path, True)
        columns = _str_list(data, "columns", path)
        if columns is not None and header:
            raise _fail(_sub(path, "columns"), "only for files without a header (header: false)")
        id_column = _str(data, "id_column", path, "id")
        label_column = _str(data, "label_column", path, None)
        if fmt != "libsvm":
            if label_column == id_column:
                raise _fail(_sub(path, "label_column"), f"is the id column {id_column!r}")
            for key, names in (("features", features or ()), ("exclude", exclude)):
                for i, name in enumerate(names):
                    if name in (id_column, label_column):
                        raise _fail(f"{_sub(path, key)}[{i}]", f"{name!r} is the id or label column")
        if columns is not None:
            for name in (id_column, label_column, *(features or ())):
                if name is not None and name not in columns:
                    raise _fail(_sub(path, "columns"), f"does not name column {name!r}")
        missing_values = data.get("missing_values", list(DEFAULT_MISSING_VALUES))
        if not isinstance(missing_values, (list, tuple)) or not all(isinstance(v, str) for v in missing_values):
            raise _fail(_sub(path, "missing_values"), f"expected a list of strings, got {missing_values!r}")
        index_base = _int(data, "index_base", path, 1)
        if index_base not in (0, 1):
            raise _fail(_sub(path, "index_base"), f"expected 0 or 1, got {index_base}")
        return cls(
            uri=uri,
            format=fmt,
            id_column=id_column,
            label_column=label_column,
            features=features,
            exclude=exclude,
            delimiter=delimiter,
            header=header,
            columns=columns,
            missing=MissingPolicy.parse(data.get("missing", "error"), _sub(path, "missing")),
            missing_values=tuple(missing_values),
            index_base=index_base,
            num_features=_int(data, "num_features", path, None, minimum=1),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uri": self.uri, "format": self.format}
        if self.label_column is not None:
            out["label_column"] = self.label_column
        out["missing"] = str(self.missing)
        out["missing_values"] = list(self.missing_values)
        if self.format == "libsvm":
            out["index_base"] = self.index_base
            if self.num_features is not None:
                out["num_features"] = self.num_features
            return out
        out["id_column"] = self.id_column
        if self.features is not None:
            out["features"] = list(self.features)
        if self.exclude:
            out["exclude"] = list(self.exclude)
        if self.format == "csv":
            out["delimiter"] = self.delimiter
            out["header"] = self.header
            if self.columns is not None:
                out["columns"] = list(self.columns)
        return out


@dataclass(frozen=True)
class OutputSpec:
    """Where this party's step writes: one directory, replaced as a whole."""

    dir: str

    @classmethod
    def from_dict(cls, data: Any, path: str = "outputs") -> OutputSpec:
        data = _mapping(data, path)
        _no_unknown(data, ("dir",), path)
        return cls(dir=_str(data, "dir", path))

    def to_dict(self) -> dict[str, Any]:
        return {"dir": self.dir}


@dataclass(frozen=True)
class TaskSpec:
    """Everything one party's step of one job attempt needs."""

    job_id: str
    attempt: int
    party_id: str
    role: str
    private_key: str
    parties: tuple[PartySpec, ...]
    inputs: dict[str, DataSpec]
    outputs: OutputSpec
    nonce: str  # the run's, from the initiator's invitation: binds every message to this run
    params: dict[str, Any] = field(default_factory=dict)

    _FIELDS = ("job_id", "attempt", "party_id", "role", "private_key", "parties", "inputs", "outputs", "nonce", "params")

    @classmethod
    def from_dict(cls, data: Any) -> TaskSpec:
        data = _mapping(data, "spec")
        _no_unknown(data, cls._FIELDS, "")
        job_id = _str(data, "job_id", "")
        attempt = _int(data, "attempt", "", 1, minimum=1)
        party_id = _str(data, "party_id", "", allow_int=True)
        role = _str(data, "role", "", None)
        if role is not None:
            _choice(role, ROLES, "role")
        raw_parties = data.get("parties")
        if raw_parties is None:
            raise _fail("parties", "missing")
        if not isinstance(raw_parties, (list, tuple)) or not raw_parties:
            raise _fail("parties", f"expected a non-empty list, got {raw_parties!r}")
        parties = tuple(PartySpec.from_dict(p, f"parties[{i}]") for i, p in enumerate(raw_parties))
        seen: dict[str, int] = {}
        for i, party in enumerate(parties):
            if party.id in seen:
                raise _fail(f"parties[{i}].id", f"duplicate party id {party.id!r} (also parties[{seen[party.id]}])")
            seen[party.id] = i
        guests = [i for i, p in enumerate(parties) if p.role == "guest"]
        if len(guests) != 1:
            raise _fail("parties", f"expected exactly one guest, got {len(guests)}")
        if party_id not in seen:
            raise _fail("party_id", f"{party_id!r} is not among the parties ({', '.join(seen)})")
        own_role = parties[seen[party_id]].role
        if role is not None and role != own_role:
            raise _fail("role", f"{role!r} but parties[{seen[party_id]}] says {party_id!r} is {own_role!r}")
        raw_inputs = _mapping(data.get("inputs", {}), "inputs")
        inputs = {}
        for name, item in raw_inputs.items():
            if not isinstance(name, str) or not name:
                raise _fail("inputs", f"input names must be non-empty strings, got {name!r}")
            inputs[name] = DataSpec.from_dict(item, f"inputs.{name}")
        if "outputs" not in data:
            raise _fail("outputs", "missing")
        params = data.get("params", {})
        params = dict(_mapping(params, "params"))
        return cls(
            job_id=job_id,
            attempt=attempt,
            party_id=party_id,
            role=own_role,
            private_key=_str(data, "private_key", ""),
            parties=parties,
            inputs=inputs,
            outputs=OutputSpec.from_dict(data["outputs"]),
            nonce=parse_nonce(data.get("nonce"), "nonce"),
            params=params,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "party_id": self.party_id,
            "role": self.role,
            "private_key": self.private_key,
            "parties": [p.to_dict() for p in self.parties],
            "inputs": {name: spec.to_dict() for name, spec in self.inputs.items()},
            "outputs": self.outputs.to_dict(),
            "nonce": self.nonce,
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
            raise _fail(f"inputs.{name}", f"missing (this spec has: {have})") from None
