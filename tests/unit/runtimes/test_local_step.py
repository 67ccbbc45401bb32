"""LocalStep's choice between the step server and spark-submit (the server itself: tests/integration/test_step_server.py)."""

from __future__ import annotations

import logging
import sys

from airflow_provider_powerfl.runtimes.command import SparkSettings
from airflow_provider_powerfl.runtimes.step_server import LocalStep

log = logging.getLogger("test.step_server")


def plain(tmp_path) -> list[str]:
    return [sys.executable, "-c", "import os; print('spark-submit in', os.getcwd())"]


def test_no_server_answering_runs_spark_submit_in_the_specs_directory(tmp_path, caplog):
    seen: list[str] = []
    with caplog.at_level(logging.INFO, "test.step_server"):
        LocalStep("align", plain(tmp_path), tmp_path / "spec.json", SparkSettings(), server=str(tmp_path / "none.sock")).run(
            log, "step align", on_line=seen.append
        )
    assert seen == [f"spark-submit in {tmp_path}"]
    assert any("none.sock" in m and "running spark-submit instead" in m for m in caplog.messages)


def test_a_step_with_its_own_environment_or_a_cluster_master_is_spark_submitted(tmp_path, caplog):
    for env, settings in (
        ({"PATH": "/usr/bin", "AWS_ACCESS_KEY_ID": "x"}, SparkSettings()),
        (None, SparkSettings(master="yarn")),
    ):
        seen: list[str] = []
        step = LocalStep("align", plain(tmp_path), tmp_path / "spec.json", settings, env, server=str(tmp_path / "none.sock"))
        with caplog.at_level(logging.INFO, "test.step_server"):
            step.run(log, "step align", on_line=seen.append)
        assert seen == [f"spark-submit in {tmp_path}"]
        assert any("spark-submit, not the step server" in m for m in caplog.messages)
