from __future__ import annotations

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.command import LOCAL_DRIVER_JAVA_OPTIONS, SparkSettings, default_jobs_dir, step_command


def test_command_names_master_conf_entry_point_and_relative_spec():
    argv = step_command(
        "align",
        "powerfl-align-J-10000",
        SparkSettings(master="yarn", conf={"spark.b": "2", "spark.a": "1"}, jobs_dir="/opt/jobs/"),
    )
    assert argv == [
        "spark-submit", "--master", "yarn", "--deploy-mode", "client", "--name", "powerfl-align-J-10000",
        "--conf", "spark.a=1", "--conf", "spark.b=2", "/opt/jobs/run.py", "align", "--spec", "spec.json",
    ]  # fmt: skip


def test_a_local_master_gets_the_short_job_jvm_options_unless_given():
    local = step_command("train", "n", SparkSettings(master="local[2]"))
    assert local[local.index("spark.driver.extraJavaOptions=" + LOCAL_DRIVER_JAVA_OPTIONS) - 1] == "--conf"
    own = step_command("train", "n", SparkSettings(conf={"spark.driver.extraJavaOptions": "-Xss4m"}))
    assert "spark.driver.extraJavaOptions=-Xss4m" in own and not any(LOCAL_DRIVER_JAVA_OPTIONS in a for a in own)
    assert not any("extraJavaOptions" in a for a in step_command("train", "n", SparkSettings(master="k8s://https://k:443")))


def test_default_jobs_dir_holds_the_runner():
    assert (default_jobs_dir() / "run.py").is_file()
    assert step_command("inspect_data", "n", SparkSettings())[-4] == f"{default_jobs_dir()}/run.py"


def test_the_jobs_dir_is_found_by_import_not_by_this_files_place(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="spark_jobs package is not importable.*POWERFL_SPARK_JOBS"):
        default_jobs_dir()
    monkeypatch.setenv("POWERFL_SPARK_JOBS", "/opt/powerfl/spark_jobs")
    assert step_command("train", "n", SparkSettings())[-4] == "/opt/powerfl/spark_jobs/run.py"


@pytest.mark.parametrize(
    ("step", "settings", "message"),
    [
        ("Train", SparkSettings(), r"step 'Train': expected a spark_jobs entry point"),
        ("train", SparkSettings(master="mesos://x"), r"spark master 'mesos://x'"),
        ("train", SparkSettings(deploy_mode="remote"), r"deploy_mode 'remote'"),
        ("train", SparkSettings(conf={"executor.memory": "2g"}), r"spark conf key 'executor.memory'"),
    ],
)
def test_bad_settings_are_named(step, settings, message):
    with pytest.raises(ConfigError, match=message):
        step_command(step, "n", settings)
