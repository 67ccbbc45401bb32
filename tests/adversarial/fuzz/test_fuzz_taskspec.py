"""The task spec against any mapping and any file: it parses, round-trips, or raises ConfigError naming the field.

A spec is built from a job conf another party may have written, and read
back by the Spark step from a file: both the mapping and the file text are fuzzed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from fuzzkit import fuzz, json_like, loads_or_names_file, mutated_trees, parses_or_own_error, utf8, yaml_texts
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import TaskSpec

pytestmark = pytest.mark.timeout(120)

GOOD = {
    "job_id": "job-42",
    "attempt": 1,
    "party_id": "10000",
    "role": "guest",
    "private_key": "/keys/10000.pem",
    "parties": [
        {"id": "10000", "role": "guest", "bootstrap_servers": ["kafka-a:9092"], "public_key": "/keys/10000.pub"},
        {
            "id": "20000",
            "role": "host",
            "bootstrap_servers": "kafka-b:9093,kafka-b2:9093",
            "public_key": "/keys/20000.pub",
            "security": {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_plain_password_file": "/s/p"},
        },
    ],
    "inputs": {
        "train": {"uri": "file:///d/g.csv", "format": "csv", "label_column": "y", "missing": "fill:0", "features": ["a", "b"]},
        "extra": {"uri": "hdfs:///a9a", "format": "libsvm", "label_column": "label", "num_features": 49, "index_base": 0},
    },
    "outputs": {"dir": "file:///out/job-42/10000"},
    "nonce": "0f" * 16,
    "params": {"max_iter": 10, "learning_rate": 0.15},
}


def _parses_or_config_error(data: object) -> TaskSpec | None:
    ok, out = parses_or_own_error(TaskSpec.from_dict, data)
    if not ok:
        assert isinstance(out, ConfigError), f"{type(out).__name__} is not ConfigError: {out}"
        return None
    return out


def test_the_seed_spec_is_valid() -> None:
    assert _parses_or_config_error(GOOD) is not None  # else the mutations below start from nothing


@fuzz(150)
@given(json_like)
def test_any_value_parses_or_raises_config_error(data: object) -> None:
    _parses_or_config_error(data)


@fuzz(150)
@given(mutated_trees(GOOD))
def test_a_mutated_spec_parses_and_round_trips_or_raises_config_error(data: object) -> None:
    spec = _parses_or_config_error(data)
    if spec is not None:
        assert TaskSpec.from_dict(spec.to_dict()) == spec


_yaml_texts = yaml_texts(GOOD, "a: 2001-02-30", "a: !!bool maybe", "a: !!int 0xZZ", "a: !!float x", "&a [*a]", "{[1]: 2}")


@fuzz(30)
@given(text=_yaml_texts, suffix=st.sampled_from([".yaml", ".json"]))
@example(text="[" * 5000 + "]" * 5000, suffix=".json")  # json.loads raised RecursionError
@example(text="[" * 600 + "]" * 600, suffix=".yaml")  # so did PyYAML's composer (slowly: 2 s at depth 1000)
@example(text="job_id: 2001-02-30", suffix=".yaml")  # PyYAML's timestamp constructor raises ValueError
@example(text="job_id: !!bool maybe", suffix=".yaml")  # and its bool constructor KeyError
def test_any_spec_file_loads_or_raises_config_error_naming_it(text: str, suffix: str) -> None:
    loads_or_names_file(TaskSpec.load, utf8(text), f"spec{suffix}")


@fuzz(30)
@given(st.binary(max_size=100))
@example(b"job_id: \xff\xfe")  # not UTF-8: read_text raised UnicodeDecodeError
def test_any_spec_file_bytes_load_or_raise_config_error(raw: bytes) -> None:
    loads_or_names_file(TaskSpec.load, raw, "spec.yaml")


def test_a_json_spec_dump_loads_back() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        TaskSpec.from_dict(GOOD).dump(path)
        assert TaskSpec.load(path) == TaskSpec.from_dict(json.loads(path.read_text()))
