"""spark_jobs/run.py, the one file spark-submit is given, run as a file the way spark-submit runs it."""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR, step_error_in
from airflow_provider_powerfl.runtimes.command import SparkSettings, default_jobs_dir, step_command

RUN = default_jobs_dir() / "run.py"


def run_file(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_command_gives_spark_submit_the_runner_and_the_step():
    assert step_command("inspect_data", "n", SparkSettings())[-4:] == [str(RUN), "inspect_data", "--spec", "spec.json"]


def test_an_unknown_step_is_a_step_error_naming_the_known_ones(tmp_path):
    proc = run_file("inspect", "--spec", "spec.json", cwd=tmp_path)
    assert proc.returncode == EXIT_STEP_ERROR
    assert step_error_in(proc.stderr) == (
        "step 'inspect': expected one of align, class_archive, feature_engineering, inspect_data, predict, spare, train "
        "(usage: spark-submit spark_jobs/run.py STEP --spec spec.json)"
    )


def test_run_as_a_file_from_anywhere_it_imports_and_runs_the_step(tmp_path):
    """No checkout on the path: the runner alone makes spark_jobs importable, and the step reports its own error."""
    proc = run_file("inspect_data", "--spec", "missing.json", cwd=tmp_path)
    assert proc.returncode == EXIT_STEP_ERROR, proc.stderr
    assert "missing.json" in step_error_in(proc.stderr)
