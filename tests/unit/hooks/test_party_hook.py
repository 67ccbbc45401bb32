from __future__ import annotations

import json

import pytest
import yaml
from airflow.sdk import Connection

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook, load_registry


def _conn(host: str | None = "127.0.0.1:19092", login: str | None = None, **extra) -> Connection:
    fields = {"party_id": "10000", "role": "guest", "registry_path": "/etc/powerfl/parties.yaml"}
    fields.update(extra)
    return Connection(
        conn_id="powerfl_guest",
        conn_type="powerfl",
        host=host,
        login=login,
        extra=json.dumps({k: v for k, v in fields.items() if v is not None}),
    )


@pytest.fixture
def registry_path(tmp_path):
    _, public = generate_party_keys(tmp_path, "10000")
    entry = {"role": "guest", "bootstrap_servers": "127.0.0.1:19092,127.0.0.1:19093", "public_key": str(public)}
    path = tmp_path / "parties.yaml"
    path.write_text(yaml.safe_dump({"parties": {"10000": entry}}))
    return str(path)


def test_fields_are_read():
    party = PartyConnection.from_connection(_conn())
    assert (party.party_id, party.role, party.runtime) == ("10000", "guest", "local")
    assert party.bootstrap_servers == "127.0.0.1:19092"
    assert PartyConnection.from_connection(_conn(host=None)).bootstrap_servers is None  # the registry's entry is the broker
    assert party.step_server is None  # spark-submit unless the connection names a step server
    assert PartyConnection.from_connection(_conn(step_server="/run/powerfl/s.sock")).step_server == "/run/powerfl/s.sock"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"party_id": None}, "party_id"),
        ({"role": "hots"}, "role"),
        ({"runtime": "docker"}, "runtime"),
        ({"step_server": "s.sock"}, "step_server"),
        ({"sasl_mechanism": "SCRAM-SHA-256"}, "sasl_mechanism"),
        ({"login": "powerfl"}, "login"),
    ],
)
def test_bad_field_is_named(extra, field):
    with pytest.raises(ConfigError, match=rf"powerfl_guest.*{field!r}"):
        PartyConnection.from_connection(_conn(**extra))


def test_kafka_settings_in_the_connection_are_refused_for_the_registrys():
    with pytest.raises(
        ConfigError,
        match=r"field 'security_protocol': this party's Kafka settings are its registry entry's \(parties\.10000\.security\)",
    ):
        PartyConnection.from_connection(_conn(security_protocol="SASL_SSL"))


def test_the_registry_entry_is_the_broker_and_a_contradicting_host_is_refused(registry_path):
    same = PartyConnection.from_connection(_conn(host="127.0.0.1:19093, 127.0.0.1:19092", registry_path=registry_path))
    assert load_registry(same).get("10000").bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19093"
    assert "10000" in load_registry(PartyConnection.from_connection(_conn(host=None, registry_path=registry_path)))
    other = PartyConnection.from_connection(_conn(host="10.0.0.9:9092", registry_path=registry_path))
    with pytest.raises(
        ConfigError,
        match=r"field 'host': '10\.0\.0\.9:9092' contradicts this party's broker in .*parties\.10000\.bootstrap_servers",
    ):
        load_registry(other)


def test_a_party_missing_from_its_registry_is_named(registry_path):
    stranger = PartyConnection.from_connection(_conn(host=None, party_id="30000", registry_path=registry_path))
    with pytest.raises(ConfigError, match=r"field 'party_id': party 30000 is not in the registry"):
        load_registry(stranger)


def test_hook_reads_connection_from_environment(monkeypatch):
    conn = _conn()
    monkeypatch.setenv("AIRFLOW_CONN_POWERFL_GUEST", conn.as_json())
    party = PowerFLPartyHook(powerfl_conn_id="powerfl_guest").get_party()
    assert (party.party_id, party.role) == ("10000", "guest")


def test_test_connection_reports_an_unreachable_registry_broker(monkeypatch, tmp_path):
    _, public = generate_party_keys(tmp_path, "10000")
    path = tmp_path / "parties.yaml"
    path.write_text(
        yaml.safe_dump({"parties": {"10000": {"role": "guest", "bootstrap_servers": "127.0.0.1:1", "public_key": str(public)}}})
    )
    monkeypatch.setenv("AIRFLOW_CONN_POWERFL_GUEST", _conn(host=None, registry_path=str(path)).as_json())
    ok, message = PowerFLPartyHook(powerfl_conn_id="powerfl_guest").test_connection()
    assert not ok and message
