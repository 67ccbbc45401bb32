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
    # an api-server's process title overwrites its environ: the kept process group finds it
    # (started through a parent that exits, so, like a kept api-server, it is not this process's child to reap)
    spawn = "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
    group = int(subprocess.run([sys.executable, "-c", spawn], capture_output=True, text=True, check=True).stdout)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # not the demo's: left alone
    try:
        kept = {"airflow_homes": [str(home)], "process_groups": [group], "brokers": []}
        run.KEPT.write_text(json.dumps(kept))
        run.ENDPOINTS.write_text("{}")
        assert run.main(["--stop"]) == 0
        assert proc.wait(timeout=20) is not None and not run._alive(group)
        assert other.poll() is None
        assert not run.KEPT.exists() and not run.ENDPOINTS.exists()
        assert run.stop_kept() is False  # nothing left to stop
    finally:
        for started in (proc, other):
            started.kill()
        if run._alive(group):
            os.killpg(group, 9)


def test_keep_is_not_taken_as_an_abbreviation_of_keep_kafka(capsys):
    with pytest.raises(SystemExit):
        run.main(["--keep-k"])
    assert "unrecognized arguments: --keep-k" in capsys.readouterr().err
