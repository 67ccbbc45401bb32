"""The job conf against anything a user triggers or an initiator's invitation carries.

Every conf goes the way a step operator takes it (operators/step.py): parse,
the party's policy, each step's layered args, its default output dir and its
task spec. Each stage returns or raises our own error, naming the conf field.
The DAG's Params (orchestration/params.py) refuse only with Airflow's
ParamValidationError, and a conf they accept meets the same property.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import ParamValidationError
from fuzzkit import fuzz, json_like, mutated_trees, parses_or_own_error
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection
from airflow_provider_powerfl.jobs.conf import STEPS, JobConf, StepArgs, build_task_spec, default_output_dir
from airflow_provider_powerfl.jobs.document import CONF_FIELDS
from airflow_provider_powerfl.orchestration.params import job_params
from airflow_provider_powerfl.policy import PartyPolicy

pytestmark = pytest.mark.timeout(120)

CONF = {
    "job_id": "J",
    "parties": ["10000=guest", "20000=host"],
    "common-args": {"max_iter": 5, "train": {"learning_rate": 0.1, "batch_size": 128}, "work_dir": "/work/fl"},
    "parties-args": {
        "10000": {
            "inputs": {"data": {"uri": "/data/guest.csv", "format": "csv", "label_column": "y"}},
            "align": {"inputs": {"data": {"uri": "/data/guest_ids.csv"}}},
            "train": {"max_iter": 7, "output_dir": "/work/fl/out"},
        },
        "20000": {"inputs": {"data": {"uri": "hdfs://nn/host.csv", "format": "csv"}}},
    },
}
POLICY = PartyPolicy.parse(
    {"allowed_parties": ["10000", "20000"], "input_prefixes": ["/data", "hdfs://nn/"], "output_dir": "/work"}
)
REGISTRY = PartyRegistry.from_dict(
    {
        "parties": {
            pid: {"role": role, "bootstrap_servers": f"kafka-{pid}:9092", "public_key": SigningKey.generate().public_key.pem()}
            for pid, role in (("10000", "guest"), ("20000", "host"))
        }
    }
)
PARAMS = job_params()
OPERATOR_PARAMS = {"train": {"max_iter": 1}, "enclave": {"enclave_party": "30000"}}  # what a pipeline's task sets


def _steps_or_own_errors(conf: dict) -> int:
    """Run `conf` through every stage of a step for both parties; the number of task specs built."""
    ok, job = parses_or_own_error(JobConf.from_conf, conf, "run-1")
    if not ok:
        return 0
    built = 0
    for party_id, role in job.parties.items():
        party = PartyConnection(
            "powerfl_default", party_id, role, "127.0.0.1:19092", "/r.yaml", f"/keys/{party_id}.key", policy=POLICY
        )
        if not parses_or_own_error(job.check_policy, party_id, POLICY)[0]:
            continue
        for step in STEPS:
            ok, args = parses_or_own_error(job.step_args, party_id, step, StepArgs(params=OPERATOR_PARAMS.get(step, {})))
            if not ok:
                continue
            out_default = default_output_dir(args.work_dir or "/work", job.job_id, party_id, step)
            spec_ok, _ = parses_or_own_error(
                build_task_spec,
                job,
                party,
                REGISTRY,
                step=step,
                args=args,
                attempt=1,
                nonce="0f" * 16,
                default_output_dir=out_default,
            )
            built += spec_ok
    return built


def test_the_seed_conf_builds_every_step_of_both_parties() -> None:
    assert _steps_or_own_errors(CONF) == 2 * len(STEPS)


@fuzz(100)
@given(st.dictionaries(st.sampled_from(CONF_FIELDS) | st.text(max_size=8), json_like, max_size=6))
def test_any_conf_runs_every_stage_or_raises_our_error(conf: dict) -> None:
    _steps_or_own_errors(conf)


@fuzz(75)
@given(mutated_trees(CONF))
@example({**CONF, "common-args": {"work_dir": 7}})  # default_output_dir(7, ...): AttributeError on rstrip
@example({**CONF, "common-args": {"output_dir": ["/work/x"]}})  # the policy's urlsplit: TypeError
@example({**CONF, "common-args": {"inputs": {"data": {"uri": "hdfs://[nn/x"}}}})  # urlsplit: ValueError
def test_a_mutated_conf_runs_every_stage_or_raises_our_error(conf: object) -> None:
    if isinstance(conf, dict):  # a DAG run conf is always a JSON object
        _steps_or_own_errors(conf)


@fuzz(10)
@given(mutated_trees(CONF))
def test_the_dag_params_refuse_only_with_param_validation_error(conf: object) -> None:
    if not isinstance(conf, dict):
        return
    accepted = True
    for name, value in conf.items():
        if name in PARAMS:
            try:
                PARAMS[name].resolve(value)
            except ParamValidationError:
                accepted = False
    if accepted:
        _steps_or_own_errors(conf)
