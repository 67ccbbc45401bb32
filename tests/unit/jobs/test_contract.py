"""The typed job contract: a typo or unknown key anywhere is refused at submit, naming its path, at every layer."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
from airflow_provider_powerfl.algorithms.secureboost.params import SecureBoostParams
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.conf import JobConf, StepArgs, check_job
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.orchestration.params import job_params

REPO = Path(__file__).resolve().parents[3]
PIPELINE = PipelineDef.from_yaml(REPO / "dags" / "pipelines" / "hetero_lr.yaml")
PARTIES = ["10000=guest", "20000=host"]


def conf(**args: object) -> dict:
    return {"parties": PARTIES, **{k.replace("_", "-"): v for k, v in args.items()}}


TYPOS = [
    (conf(common_args={"max_iters": 30}), r"dag_run\.conf\.common-args\.max_iters: unknown key \(did you mean 'max_iter'\?\)"),
    (conf(common_args={"train": {"learnig_rate": 0.1}}), r"common-args\.train\.learnig_rate: unknown key \(did you mean 'learning_rate'\?\)"),
    (conf(common_args={"align": {"max_iter": 3}}), r"common-args\.align\.max_iter: unknown key"),
    (conf(common_args={"trian": {}}), r"common-args\.trian: unknown key \(did you mean 'train'\?\)"),
    (conf(parties_args={"10000": {"train": {"max_iters": 3}}}), r"parties-args\.10000\.train\.max_iters: unknown key"),
    (conf(parties_args={"10000": {"inputs": {"data": {"uri": "/d.csv", "formt": "csv"}}}}),
     r"parties-args\.10000\.inputs\.data\.formt: unknown key \(did you mean 'format'\?\)"),
    ({**conf(), "party-args": {}}, r"dag_run\.conf\.party-args: unknown key \(did you mean 'parties-args'\?\)"),
    (conf(common_args={"train": {"max_iter": "30"}}), r"common-args\.train\.max_iter: Input should be a valid integer"),
]  # fmt: skip


@pytest.mark.parametrize(("job", "message"), TYPOS)
def test_the_job_conf_refuses_a_typo_naming_its_path(job, message):
    with pytest.raises(ConfigError, match=message):
        JobConf.from_conf(job, "run-1")


@pytest.mark.parametrize(("job", "message"), TYPOS[:6])
def test_the_dag_params_refuse_the_same_typos_so_the_rest_api_answers_400(job, message):
    """Airflow validates a triggered run's conf against the DAG's Params (POST /dagRuns: 400 on ParamValidationError).

    Params cover the args; a misspelt top-level field (``party-args``) is not a Param and is refused by the invite task.
    """
    key = message.split(r"\.")[-1].split(":")[0]
    params = ParamsDict(job_params())
    with pytest.raises(ParamValidationError, match=rf"'{key}' was unexpected|Additional properties"):
        params.update(job)
        params.validate()


def test_a_key_for_every_step_reaches_the_steps_that_take_it_only():
    job = JobConf.from_conf(conf(common_args={"max_iter": 30, "protocol": "rsa"}), "run-1")
    align = job.step_args("10000", "align", StepArgs()).checked("align", "params")
    train = job.step_args("10000", "train", StepArgs()).checked("train", "params")
    assert align.params == {"protocol": "rsa"} and train.params == {"max_iter": 30}


def test_a_pipeline_refuses_a_typo_in_a_tasks_parameters():
    data = {
        "dag_id": "p",
        "tasks": {"train": {"component": "train", "parameters": {"algorithm": "secureboost", "n_estimator": 3}}},
    }
    with pytest.raises(
        ConfigError, match=r"p: tasks\.train\.parameters\.n_estimator: unknown key \(did you mean 'n_estimators'\?\)"
    ):
        PipelineDef.from_dict(data, "p")


def test_the_merged_parameters_of_every_step_are_checked_against_the_pipeline():
    with pytest.raises(ConfigError, match=r"tasks\.train at party 10000: params: batch_size=32 is below min_batch_size=64"):
        check_job(conf(parties_args={"10000": {"train": {"batch_size": 32}}}), PIPELINE)
    with pytest.raises(
        ConfigError,
        match=r"parties-args\.20000\.train\.algorithm: Input should be 'hetero_lr', 'secureboost' or 'hetero_nn', got 'xgboost'",
    ):
        check_job(conf(parties_args={"20000": {"train": {"algorithm": "xgboost"}}}), PIPELINE)
    check_job(conf(common_args={"max_iter": 3, "train": {"learning_rate": 0.1}}), PIPELINE)


@pytest.mark.parametrize(("args", "out"), [({"max_iter": 3}, "ok"), ({"max_iters": 3}, "common-args.max_iters: unknown key")])
def test_powerfl_job_validate_exits_non_zero_with_the_same_message(tmp_path, args, out):
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(conf(common_args=args)))
    powerfl = Path(sys.executable).parent / "powerfl"
    proc = subprocess.run([powerfl, "job", "validate", job, "--pipeline-file", PIPELINE.source], capture_output=True, text=True)
    assert (proc.returncode == 0) == (out == "ok")
    assert out in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("estimator", "model"), [(HeteroLogisticRegression, HeteroLRParams), (HeteroSecureBoost, SecureBoostParams)]
)
def test_an_estimators_defaults_are_its_parameter_models(estimator, model):
    """One set of defaults: the estimator's signature and the model the job contract checks agree."""
    signature = inspect.signature(estimator.__init__).parameters
    assert {name: signature[name].default for name in model.model_fields} == model().model_dump()
