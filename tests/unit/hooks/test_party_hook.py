from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook


def _conn(**extra) -> Connection:
    fields = {"party_id": "10000", "role": "guest", "registry_path": "/etc/powerfl/parties.yaml"}
    fields.update(extra)
    return Connection(
        conn_id="powerfl_guest",
        conn_type="powerfl",
        host="127.0.0.1:19092",
        login="powerfl",
        password="secret",
        extra=json.dumps({k: v for k, v in fields.items() if v is not None}),
    )


def test_fields_are_read_with_sasl_credentials():
    party = PartyConnection.from_connection(_conn(sasl_mechanism="SCRAM-SHA-256", security_protocol="SASL_PLAINTEXT"))
    assert party.party_id == "10000"
    assert party.role == "guest"
    assert party.bootstrap_servers == "127.0.0.1:19092"
    assert party.runtime == "local"
    assert party.kafka_security == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "powerfl",
        "sasl_plain_password": "secret",
    }


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"party_id": None}, "party_id"),
        ({"role": "hots"}, "role"),
        ({"runtime": "docker"}, "runtime"),
    ],
)
def test_bad_field_is_named(extra, field):
    with pytest.raises(ConfigError, match=rf"powerfl_guest.*{field!r}"):
        PartyConnection.from_connection(_conn(**extra))


def test_hook_reads_connection_from_environment(monkeypatch):
    conn = _conn()
    monkeypatch.setenv("AIRFLOW_CONN_POWERFL_GUEST", conn.as_json())
    party = PowerFLPartyHook(powerfl_conn_id="powerfl_guest").get_party()
    assert (party.party_id, party.role) == ("10000", "guest")


def test_test_connection_reports_unreachable_broker(monkeypatch):
    conn = _conn()
    conn.host = "127.0.0.1:1"
    monkeypatch.setenv("AIRFLOW_CONN_POWERFL_GUEST", conn.as_json())
    ok, message = PowerFLPartyHook(powerfl_conn_id="powerfl_guest").test_connection()
    assert not ok and message
