from __future__ import annotations

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection
from airflow_provider_powerfl.jobs.conf import JobConf, StepArgs, build_task_spec, default_output_dir

CONF = {
    "job_id": "J",
    "parties": ["10000=guest", "20000=host"],
    "common-args": {"max_iter": 5, "train": {"learning_rate": 0.1}, "work_dir": "/data/fl"},
    "parties-args": {
        "10000": {
            "inputs": {"data": {"format": "csv", "label_column": "y"}},
            "align": {"inputs": {"data": {"uri": "/data/guest.csv"}}},
            "train": {"max_iter": 7},
        }
    },
}


def party(party_id: str = "10000", key: str | None = "/keys/10000.key") -> PartyConnection:
    return PartyConnection("powerfl_default", party_id, "guest", "127.0.0.1:19092", "/r.yaml", key)


def test_args_are_layered_operator_then_common_then_party_step_scoped_last():
    job = JobConf.from_conf(CONF, "run-1")
    base = StepArgs(params={"max_iter": 1, "tol": 1e-4})
    train = job.step_args("10000", "train", base)
    assert train.params == {"max_iter": 7, "tol": 1e-4, "learning_rate": 0.1}
    assert train.work_dir == "/data/fl"
    align = job.step_args("10000", "align", StepArgs())
    assert align.inputs == {"data": {"format": "csv", "label_column": "y", "uri": "/data/guest.csv"}}
    assert "learning_rate" not in align.params
    assert job.step_args("20000", "train", StepArgs()).params == {"max_iter": 5, "learning_rate": 0.1}


def test_job_id_defaults_to_the_run_id():
    assert JobConf.from_conf({"parties": "10000=guest,20000=host"}, "manual__1").job_id == "manual__1"


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({}, r"dag_run\.conf\.parties: missing"),
        ({"parties": ["10000=guest", "20000=hots"]}, r"dag_run\.conf\.parties\[1\]: expected guest\|host\|arbiter"),
        ({"parties": ["10000=guest"], "parties-args": {"30000": {}}}, r"parties-args\.30000: party 30000 is not among"),
        ({"parties": ["10000=guest"], "common-args": [1]}, r"common-args: Input should be a valid dictionary"),
        (
            {"parties": ["10000=guest"], "common_args": {}},
            r"dag_run\.conf\.common_args: unknown key \(did you mean 'common-args'\?\)",
        ),
    ],
)
def test_bad_job_conf_names_the_field(conf, message):
    with pytest.raises(ConfigError, match=message):
        JobConf.from_conf(conf, "run")


def test_a_party_not_in_the_job_is_refused_naming_it_and_the_job():
    job = JobConf.from_conf(CONF, "run")
    with pytest.raises(
        ConfigError,
        match=r"party 30000 \(connection 'powerfl_default'\) is not among the parties of job 'J' \(10000=guest, 20000=host\)",
    ):
        job.role_of(party("30000"))


def test_spec_takes_roles_from_the_job_and_brokers_and_keys_from_the_registry(tmp_path):
    for p in ("10000", "20000"):
        generate_party_keys(tmp_path, p)
    registry = PartyRegistry.from_dict(
        {
            "parties": {
                "10000": {"role": "guest", "bootstrap_servers": "a:1", "public_key": "10000.pub"},
                "20000": {
                    "role": "guest",
                    "bootstrap_servers": "b:2",
                    "public_key": "20000.pub",
                    "security": {"security_protocol": "SSL", "ssl_crlfile": "crl.pem"},
                },
            }
        },
        base_dir=tmp_path,
    )
    job = JobConf.from_conf(CONF, "run")
    args = job.step_args("10000", "align", StepArgs())
    out = default_output_dir("/w", "J:1", "10000", "align")
    spec = build_task_spec(job, party(), registry, step="align", args=args, attempt=2, nonce="0f" * 16, default_output_dir=out)
    assert (spec.job_id, spec.attempt, spec.role, spec.private_key, spec.nonce) == ("J", 2, "guest", "/keys/10000.key", "0f" * 16)
    assert [(p.id, p.role, p.bootstrap_servers) for p in spec.parties] == [
        ("10000", "guest", ("a:1",)),
        ("20000", "host", ("b:2",)),
    ]
    assert spec.parties[1].public_key_is_pem and spec.parties[1].security.security_protocol == "SSL"
    assert spec.outputs.dir == "/w/J_1/10000/align"
    assert spec.input("data").uri == "/data/guest.csv"
    with pytest.raises(ConfigError, match=r"field 'private_key_path': must be set"):
        build_task_spec(
            job, party(key=None), registry, step="align", args=args, attempt=1, nonce="0f" * 16, default_output_dir="/w"
        )
