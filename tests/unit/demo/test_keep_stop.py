"""The demo's --keep / --stop: what --keep left running is found by its AIRFLOW_HOME and stopped; no abbreviations."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from demo import run


def test_stop_ends_the_processes_of_the_kept_homes_and_forgets_them(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "KEPT", tmp_path / "kept.json")
    monkeypatch.setattr(run, "ENDPOINTS", tmp_path / "endpoints.json")
    home = tmp_path / "guest"
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # not the demo's: left alone
    try:
        run.KEPT.write_text(json.dumps({"airflow_homes": [str(home)], "brokers": []}))
        run.ENDPOINTS.write_text("{}")
        assert run.main(["--stop"]) == 0
        assert proc.wait(timeout=20) is not None
        assert other.poll() is None
        assert not run.KEPT.exists() and not run.ENDPOINTS.exists()
        assert run.stop_kept() is False  # nothing left to stop
    finally:
        proc.kill()
        other.kill()


def test_keep_is_not_taken_as_an_abbreviation_of_keep_kafka(capsys):
    with pytest.raises(SystemExit):
        run.main(["--keep-k"])
    assert "unrecognized arguments: --keep-k" in capsys.readouterr().err
