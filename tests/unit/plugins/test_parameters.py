"""The seed's job parameters mapped onto the job conf (flow_server.parameters)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.plugins.flow_server.parameters import seed_job_conf

PIPELINE = PipelineDef.from_yaml(Path(__file__).resolve().parents[3] / "dags" / "pipelines" / "hetero_lr.yaml")
SEED = """
parties: ["10000=guest", "20000=host"]
common-args:
  spark-master-name: yarn
  runtime-image: registry.example/powerfl:1
  train: {max_iter: 3, learning_rate: 0.1}
parties-args:
  "10000":
    hadoop-config: /etc/hadoop/conf
    hadoop-user-name: fl
    hdfs-libs-path: hdfs:///libs
    spark-submit-args: "--num-executors 4"
    input: {uri: /data/guest.csv, format: csv, label_column: y}
    test-input: /data/guest_test.csv
    output: /data/out
  "20000":
    input: /data/host.parquet
    output: hdfs:///out
"""


def test_seed_parameters_map_onto_the_job_conf():
    conf, ignored = seed_job_conf(yaml.safe_load(SEED), PIPELINE, "job-1")
    assert conf["job_id"] == "job-1"
    assert conf["parties"] == ["10000=guest", "20000=host"]
    assert conf["kubernetes"] == {"image": "registry.example/powerfl:1"}
    assert conf["common-args"] == {"train": {"max_iter": 3, "learning_rate": 0.1}}
    guest = conf["parties-args"]["10000"]
    assert guest["work_dir"] == "/data/out"
    assert guest["align"]["inputs"] == {
        "train": {"uri": "/data/guest.csv", "format": "csv", "label_column": "y"},
        "test": {"uri": "/data/guest_test.csv", "format": "csv"},
    }
    host = conf["parties-args"]["20000"]
    assert host == {"work_dir": "hdfs:///out", "align": {"inputs": {"train": {"uri": "/data/host.parquet", "format": "parquet"}}}}
    assert set(ignored) == {
        "common-args.spark-master-name",
        "parties-args.10000.hadoop-config",
        "parties-args.10000.hadoop-user-name",
        "parties-args.10000.hdfs-libs-path",
        "parties-args.10000.spark-submit-args",
    }
    assert all(ignored.values())


def test_a_misspelt_step_parameter_is_refused_naming_it():
    params = yaml.safe_load(SEED)
    params["common-args"]["train"]["max_iters"] = 3
    with pytest.raises(ConfigError, match=r"max_iters"):
        seed_job_conf(params, PIPELINE, "job-1")


def test_a_party_outside_the_job_is_refused():
    params = yaml.safe_load(SEED)
    params["parties-args"]["30000"] = {"input": "/x.csv"}
    with pytest.raises(ConfigError, match=r"parties-args.30000"):
        seed_job_conf(params, PIPELINE, "job-1")


def test_unknown_top_level_key_and_bad_input_are_named():
    with pytest.raises(ConfigError, match=r"^common_args: not a job parameter"):
        seed_job_conf({"common_args": {}}, PIPELINE, "j")
    with pytest.raises(ConfigError, match=r"parties-args.20000.input"):
        seed_job_conf({"parties-args": {"20000": {"input": 5}}}, PIPELINE, "j")


def test_parties_default_to_the_pipeline_s():
    conf, ignored = seed_job_conf({}, PIPELINE, "j")
    assert conf["parties"] == list(PIPELINE.parties) and ignored == {}
