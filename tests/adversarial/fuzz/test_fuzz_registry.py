"""The party registry against any mapping and any file: it loads or raises ConfigError naming the party and field.

The registry names who may talk to this party and with which key, so a
typo or a hostile edit must fail loudly, never with a bare TypeError.
"""

from __future__ import annotations

import pytest
from fuzzkit import fuzz, json_like, loads_or_names_file, mutated_trees, parses_or_own_error, utf8, yaml_texts
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

pytestmark = pytest.mark.timeout(120)

PEM = SigningKey.generate().public_key.pem()
GOOD = {
    "parties": {
        "10000": {"role": "guest", "bootstrap_servers": "kafka-a:9092", "public_key": PEM},
        "20000": {
            "roles": ["host", "arbiter"],
            "bootstrap_servers": ["kafka-b:9093", "kafka-b2:9093"],
            "public_key": "keys/20000.pub",
            "security": {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "ssl_cafile": "ca.pem"},
        },
    }
}


def _loads_or_config_error(data: object) -> PartyRegistry | None:
    ok, out = parses_or_own_error(PartyRegistry.from_dict, data, base_dir="/etc/powerfl")
    if not ok:
        assert isinstance(out, ConfigError), f"{type(out).__name__} is not ConfigError: {out}"
        return None
    for party_id in out:  # what a loaded registry is used for must not fail with anything but our errors
        info = out.get(party_id)
        info.kafka_config()
        parses_or_own_error(info.verify_key)
    out.roles()
    return out


def test_the_seed_registry_is_valid() -> None:
    assert _loads_or_config_error(GOOD) is not None


@fuzz(150)
@given(json_like)
def test_any_value_loads_or_raises_config_error(data: object) -> None:
    _loads_or_config_error(data)


@fuzz(150)
@given(mutated_trees(GOOD))
@example({"parties": {"1": {1: "x", "x": 1}}})  # field names of two types: sorted() raised TypeError
@example({"parties": {"1": {"role": "g", "bootstrap_servers": "a:1", "public_key": PEM, "security": {"ssl_cafile": 7}}}})
@example({"parties": {"1": {"role": "g", "bootstrap_servers": "a:1", "public_key": "~nobody-such/k.pub"}}})
def test_a_mutated_registry_loads_or_raises_config_error(data: object) -> None:
    _loads_or_config_error(data)


@fuzz(60)
@given(st.text(max_size=300).map(lambda tail: "-----BEGIN PUBLIC KEY-----\n" + tail))
@example("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
def test_any_inline_public_key_loads_or_raises_our_error(pem: str) -> None:
    registry = PartyRegistry.from_dict({"parties": {"1": {"role": "guest", "bootstrap_servers": "a:1", "public_key": pem}}})
    ok, out = parses_or_own_error(registry.get("1").verify_key)
    assert ok or isinstance(out, PowerFLError)


_texts = yaml_texts(GOOD, "parties: 2001-02-30", "parties: !!bool maybe", "parties: {a: !!int 0xZZ}", "&a [*a]")


@fuzz(60)
@given(_texts.map(utf8) | st.binary(max_size=100))
@example(b"parties: 2001-02-30")  # PyYAML's timestamp constructor raised ValueError
@example(b"parties: !!bool maybe")  # and its bool constructor KeyError
@example(b"[" * 600 + b"]" * 600)  # and its composer RecursionError
@example(b"parties: \xff")  # not UTF-8: UnicodeDecodeError
def test_any_registry_file_loads_or_raises_config_error_naming_it(raw: bytes) -> None:
    loads_or_names_file(PartyRegistry.from_yaml, raw, "registry.yaml")
