"""Task spec: round trips, and each bad field named by its exact path."""

from __future__ import annotations

import copy
import json

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.contract import step_error_in
from airflow_provider_powerfl.jobs.spec import DataSpec, MissingPolicy, TaskSpec, parse_party_roles

PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"


def good() -> dict:
    return {
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
                "public_key": PEM,
                "security": {
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_plain_username": "powerfl",
                    "sasl_plain_password": "s3cret",
                    "ssl_cafile": "/etc/ca.pem",
                },
            },
        ],
        "inputs": {
            "train": {"uri": "file:///data/guest.csv", "format": "csv", "label_column": "y", "missing": "fill:0"},
            "extra": {"uri": "hdfs:///a9a.guest", "format": "libsvm", "label_column": "label", "num_features": 49},
        },
        "outputs": {"dir": "file:///out/job-42/10000"},
        "nonce": "0f" * 16,
        "params": {"max_iter": 10, "learning_rate": 0.15},
    }


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        TaskSpec.from_dict(data)
    return str(info.value)


def test_good_spec_reads_and_round_trips(tmp_path):
    spec = TaskSpec.from_dict(good())
    assert spec.me.role == "guest"
    assert [p.id for p in spec.peers()] == ["20000"]
    host = spec.party("20000")
    assert host.bootstrap_servers == ("kafka-b:9093", "kafka-b2:9093")
    assert host.public_key_is_pem and not spec.me.public_key_is_pem
    assert host.security.client_kwargs()["sasl_mechanism"] == "SCRAM-SHA-512"
    assert "s3cret" not in repr(spec)
    train = spec.input("train")
    assert train.missing == MissingPolicy(action="fill", fill_value=0.0)
    assert train.id_column == "id" and train.header is True
    assert spec.input("extra").index_base == 1
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    for name in ("spec.yaml", "spec.json"):
        spec.dump(tmp_path / name)
        assert TaskSpec.load(tmp_path / name) == spec
    assert json.loads((tmp_path / "spec.json").read_text())["job_id"] == "job-42"


def test_role_is_taken_from_parties_and_int_ids_accepted():
    data = good()
    del data["role"]
    data["party_id"] = 20000
    data["parties"][1]["id"] = 20000
    spec = TaskSpec.from_dict(data)
    assert (spec.party_id, spec.role) == ("20000", "host")


def mutate(path_value):
    path, value = path_value
    data = good()
    node = data
    keys = path[:-1]
    for key in keys:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


BAD = [
    ((["parties", 1, "role"], "hots"), "parties[1].role: Input should be 'guest', 'host' or 'arbiter', got 'hots'"),
    ((["inputs", "train", "uri"], KeyError), "inputs.train.uri: Field required"),
    ((["inputs", "train", "colour"], "red"), "inputs.train.colour: unknown key (did you mean 'columns'?)"),
    ((["surprise"], 1), "surprise: unknown key (known: attempt, inputs, job_id,"),
    ((["job_id"], KeyError), "job_id: Field required"),
    ((["job_id"], 42), "job_id: Input should be a valid string, got 42"),
    ((["attempt"], 0), "attempt: Input should be greater than or equal to 1, got 0"),
    ((["attempt"], True), "attempt: Input should be a valid integer, got True"),
    ((["party_id"], "30000"), "party_id: '30000' is not among the parties (10000, 20000)"),
    ((["role"], "host"), "role: 'host' but parties[0] says '10000' is 'guest'"),
    ((["private_key"], ""), "private_key: must not be empty"),
    ((["parties"], []), "parties: Tuple should have at least 1 item"),
    ((["parties", 1, "id"], "10000"), "parties[1].id: duplicate party id '10000' (also parties[0])"),
    ((["parties", 1, "role"], "guest"), "parties: expected exactly one guest, got 2"),
    ((["parties", 0, "bootstrap_servers"], ["kafka-a"]), "parties[0].bootstrap_servers[0]: expected 'host:port', got 'kafka-a'"),
    ((["parties", 0, "bootstrap_servers"], KeyError), "parties[0].bootstrap_servers: Field required"),
    ((["parties", 0, "public_key"], KeyError), "parties[0].public_key: Field required"),
    (
        (["parties", 1, "security", "sasl_mechanism"], KeyError),
        "parties[1].security.sasl_mechanism: missing (required with security_protocol SASL_SSL)",
    ),
    (
        (["parties", 1, "security", "security_protocol"], "TLS"),
        "parties[1].security.security_protocol: Input should be 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL', got 'TLS'",
    ),
    (
        (["parties", 1, "security", "sasl_password"], "x"),
        "parties[1].security.sasl_password: unknown key (did you mean 'ssl_password'?)",
    ),
    (
        (["inputs", "train", "format"], "xlsx"),
        "inputs.train.format: Input should be 'csv', 'libsvm', 'parquet', 'orc' or 'hive', got 'xlsx'",
    ),
    ((["inputs", "train", "missing"], "zero"), "inputs.train.missing: expected error|drop|fill:<number>, got 'zero'"),
    ((["inputs", "train", "missing"], "fill:abc"), "inputs.train.missing: fill value is not a number in 'fill:abc'"),
    ((["inputs", "train", "missing"], "fill:nan"), "inputs.train.missing: fill value must be finite"),
    ((["inputs", "train", "delimiter"], "||"), "inputs.train.delimiter: String should have at most 1 character, got '||'"),
    ((["inputs", "train", "header"], "yes"), "inputs.train.header: Input should be a valid boolean, got 'yes'"),
    ((["inputs", "train", "features"], ["x0", "x0"]), "inputs.train.features[1]: duplicate 'x0'"),
    ((["inputs", "train", "features"], ["x0", "y"]), "inputs.train.features[1]: 'y' is the id or label column"),
    ((["inputs", "train", "features"], "x0"), "inputs.train.features: Input should be a valid tuple, got 'x0'"),
    ((["inputs", "train", "exclude"], ["x1"]), None),  # fine alone
    ((["inputs", "train", "columns"], ["id", "y"]), "inputs.train.columns: only for files without a header (header: false)"),
    ((["inputs", "train", "index_base"], 0), "inputs.train.index_base: not used with format csv"),
    ((["inputs", "extra", "delimiter"], " "), "inputs.extra.delimiter: not used with format libsvm"),
    ((["inputs", "extra", "index_base"], 2), "inputs.extra.index_base: Input should be less than or equal to 1, got 2"),
    ((["inputs", "extra", "num_features"], 0), "inputs.extra.num_features: Input should be greater than or equal to 1, got 0"),
    ((["inputs", "train"], "file:///x.csv"), "inputs.train: Input should be a valid dictionary"),
    ((["outputs", "dir"], KeyError), "outputs.dir: Field required"),
    ((["outputs"], KeyError), "outputs: Field required"),
    ((["nonce"], KeyError), "nonce: Field required"),
    ((["nonce"], "0f" * 15 + "0g"), "nonce: expected the run's nonce, 32 hex digits, got '0f0f"),
    ((["params"], [1, 2]), "params: Input should be a valid dictionary, got [1, 2]"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m or "ok" for _, m in BAD])
def test_bad_field_is_named(change, message):
    data = mutate(change)
    if message is None:
        TaskSpec.from_dict(data)
        return
    assert error_of(data).startswith(message)


def test_features_and_exclude_together_refused():
    data = good()
    data["inputs"]["train"].update(features=["x0"], exclude=["x1"])
    assert error_of(data) == "inputs.train.exclude: give features or exclude, not both"


def test_headerless_columns_must_name_the_id():
    spec = {"uri": "a.csv", "format": "csv", "header": False, "columns": ["key", "x0"]}
    with pytest.raises(ConfigError, match=r"^in\.columns: does not name column 'id'$"):
        DataSpec.from_dict(spec, "in")
    assert DataSpec.from_dict({**spec, "id_column": "key"}, "in").columns == ("key", "x0")


def test_missing_input_is_named():
    spec = TaskSpec.from_dict(good())
    with pytest.raises(ConfigError, match=r"^inputs\.predict: missing \(this spec has: extra, train\)$"):
        spec.input("predict")


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "spec.yaml"
    data = copy.deepcopy(good())
    data["parties"][1]["role"] = "hots"
    bad.write_text(json.dumps(data))
    with pytest.raises(
        ConfigError, match=r"spec\.yaml: parties\[1\]\.role: Input should be 'guest', 'host' or 'arbiter', got 'hots'"
    ):
        TaskSpec.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        TaskSpec.load(tmp_path / "absent.yaml")
    broken = tmp_path / "spec.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"spec\.json: not valid JSON"):
        TaskSpec.load(broken)


def test_parse_party_roles():
    assert parse_party_roles(["10000=guest", "20000=host"]) == {"10000": "guest", "20000": "host"}
    assert parse_party_roles("10000=guest, 20000=host,30000=arbiter") == {
        "10000": "guest",
        "20000": "host",
        "30000": "arbiter",
    }


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["10000=guest", "20000"], "parties[1]: expected '<party id>=<role>', got '20000'"),
        (["10000=guest", "20000=hots"], "parties[1]: expected guest|host|arbiter, got 'hots'"),
        (["10000=guest", "10000=host"], "parties[1]: duplicate party id '10000'"),
        (["=guest"], "parties[0]: empty party id in '=guest'"),
        (["a=b=c"], "parties[0]: expected '<party id>=<role>', got 'a=b=c'"),
        ([], "parties: no parties"),
        ({"10000": "guest"}, "parties: expected a list like"),
    ],
)
def test_parse_party_roles_errors(items, message):
    with pytest.raises(ConfigError) as info:
        parse_party_roles(items)
    assert str(info.value).startswith(message)


def test_step_error_in_finds_the_last_error_line():
    log = "26/01/01 WARN x\n[2026-01-01] {subprocess} POWERFL-ERROR: first\nPOWERFL-ERROR: file:/d.csv: duplicate id '1' (2 rows)\nbye\n"
    assert step_error_in(log) == "file:/d.csv: duplicate id '1' (2 rows)"
    assert step_error_in("all fine\n") is None


def test_a_password_and_its_file_together_are_refused():
    data = good()
    data["parties"][1]["security"]["sasl_plain_password_file"] = "/etc/powerfl/kafka/20000.sasl_plain_password"
    assert "parties[1].security.sasl_plain_password_file: give either sasl_plain_password or a file" in error_of(data)
