from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry

REGISTRY = """
parties:
  "10000":
    role: guest
    bootstrap_servers: 127.0.0.1:19092
    public_key: keys/10000.pub
  "20000":
    roles: [host, arbiter]
    bootstrap_servers: [10.0.0.2:9092, 10.0.0.3:9092]
    public_key: keys/20000.pub
    security:
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: guest-at-host
      sasl_password: s3cret
      ssl_cafile: certs/host-ca.pem
"""


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    generate_party_keys(tmp_path / "keys", "10000")
    generate_party_keys(tmp_path / "keys", "20000")
    path = tmp_path / "parties.yaml"
    path.write_text(REGISTRY)
    return path


def test_yaml_registry_resolves_paths_and_maps_security(registry_file: Path) -> None:
    registry = PartyRegistry.from_yaml(registry_file)
    assert sorted(registry) == ["10000", "20000"] and len(registry) == 2 and "10000" in registry
    assert registry.roles() == {"10000": "guest", "20000": "host"}
    host = registry.get("20000")
    assert host.roles == ("host", "arbiter")
    assert host.kafka_config() == {
        "bootstrap_servers": ["10.0.0.2:9092", "10.0.0.3:9092"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "guest-at-host",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(registry_file.parent / "certs" / "host-ca.pem"),
    }
    assert registry.get("10000").kafka_config() == {"bootstrap_servers": ["127.0.0.1:19092"]}
    host.verify_key()  # loads keys/20000.pub relative to the YAML file


def test_inline_pem_public_key(registry_file: Path) -> None:
    pem = (registry_file.parent / "keys" / "10000.pub").read_text()
    registry = PartyRegistry.from_dict({"parties": {"10000": {"role": "guest", "bootstrap_servers": "b:1", "public_key": pem}}})
    assert registry.get("10000").public_key == pem
    registry.get("10000").verify_key()


def test_unknown_party_is_named(registry_file: Path) -> None:
    with pytest.raises(ConfigError, match="'30000'"):
        PartyRegistry.from_yaml(registry_file).get("30000")


def test_missing_key_file_names_party_and_file(tmp_path: Path) -> None:
    registry = PartyRegistry.from_dict(
        {"parties": {"10000": {"role": "guest", "bootstrap_servers": "b:1", "public_key": "nope.pub"}}}, tmp_path
    )
    with pytest.raises(ConfigError, match=r"party 10000: .*nope\.pub"):
        registry.get("10000").verify_key()


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"bootstrap_servers": "b:1", "public_key": "k"}, "role"),
        ({"role": "guest", "public_key": "k"}, "bootstrap_servers"),
        ({"role": "guest", "bootstrap_servers": "b:1"}, "public_key"),
        ({"role": "guest", "bootstrap_servers": "b:1", "public_key": "k", "colour": 1}, "colour"),
        ({"role": "guest", "bootstrap_servers": "b:1", "public_key": "k", "security": {"acks": 1}}, "security.acks"),
    ],
)
def test_bad_entries_name_the_field(entry: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        PartyRegistry.from_dict({"parties": {"10000": entry}})


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml"):
        PartyRegistry.from_yaml(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("parties: {}\n")
    with pytest.raises(ConfigError, match="empty.yaml.*parties"):
        PartyRegistry.from_yaml(empty)
