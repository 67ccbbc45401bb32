"""The `powerfl` command line: a PowerFL error is one line on stderr and a non-zero exit, not a traceback."""

from __future__ import annotations

from airflow_provider_powerfl.cli import main


def test_a_powerfl_error_prints_one_error_line_and_exits_non_zero(tmp_path, capsys):
    missing = tmp_path / "no-such-job.yaml"
    assert main(["job", "submit", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"powerfl: error: cannot read job file {missing}: No such file or directory"], err
