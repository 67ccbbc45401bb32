"""`powerfl job submit` reads a job file; a misspelt field is refused before anything is triggered."""

import pytest

from airflow_provider_powerfl.cli_job import load_job_file
from airflow_provider_powerfl.exceptions import ConfigError


def test_job_file_splits_the_pipeline_from_the_conf(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("pipeline: powerfl_hetero_lr\nparties: ['10000=guest', '20000=host']\ncommon-args: {train: {max_iter: 3}}\n")
    assert load_job_file(path) == (
        "powerfl_hetero_lr",
        {"parties": ["10000=guest", "20000=host"], "common-args": {"train": {"max_iter": 3}}},
    )


def test_a_misspelt_field_is_refused_naming_file_and_field(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("parties: ['10000=guest', '20000=host']\nparty-args: {}\n")
    with pytest.raises(
        ConfigError, match=r"job file .*job\.yaml: dag_run\.conf\.party-args: unknown key \(did you mean 'parties-args'\?\)"
    ):
        load_job_file(path)


def test_a_job_file_may_not_fix_the_run_nonce(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(f"parties: ['10000=guest', '20000=host']\nnonce: '{'0f' * 16}'\n")
    with pytest.raises(ConfigError, match=r"job file .*job\.yaml: nonce: drawn afresh per run by powerfl job submit"):
        load_job_file(path)
