"""How a party's step reaches a peer's Kafka: the ``security`` of a party in the task spec (kafka-python's names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, StrictBool, model_validator

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.validation import Contract, Text, field_error, parse

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]
SECURITY_PROTOCOLS = get_args(SecurityProtocol)
SASL_MECHANISMS = get_args(SaslMechanism)
PASSWORD_FIELDS = ("ssl_password", "sasl_plain_password")


class KafkaSecurity(Contract):
    """kafka-python security settings of one party's broker (names as kafka-python's)."""

    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_cafile: Text | None = None
    ssl_certfile: Text | None = None
    ssl_keyfile: Text | None = None
    ssl_password: Text | None = Field(None, repr=False)
    ssl_check_hostname: StrictBool = True
    sasl_mechanism: SaslMechanism | None = None
    sasl_plain_username: Text | None = None
    sasl_plain_password: Text | None = Field(None, repr=False)
    sasl_kerberos_service_name: Text | None = None
    # not kafka-python's: files read at connect time (a mounted Kubernetes Secret), so no password sits in the spec
    ssl_password_file: Text | None = None
    sasl_plain_password_file: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        """SASL names its mechanism; a password is given once, in the spec or in a file."""
        if self.security_protocol.startswith("SASL_") and self.sasl_mechanism is None:
            raise field_error("sasl_mechanism", f"missing (required with security_protocol {self.security_protocol})")
        for name in PASSWORD_FIELDS:
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise field_error(f"{name}_file", f"give either {name} or a file holding it, not both")
        return self

    @classmethod
    def from_dict(cls, data: Any, path: str = "security") -> KafkaSecurity:
        return parse(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        """The settings that are set (a None is kafka-python's default)."""
        return self.model_dump(exclude_none=True)

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
