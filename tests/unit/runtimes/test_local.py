from __future__ import annotations

import logging
import os
import sys
import threading
import time

import pytest

from airflow_provider_powerfl.runtimes.local import LocalProcess, StepFailed, previous_step, record_path

log = logging.getLogger("test.local")


def script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "job.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def test_output_streams_line_by_line_and_success_returns(tmp_path, caplog):
    seen = []
    argv = script(tmp_path, "import sys\nprint('one', flush=True)\nprint('two', file=sys.stderr)\n")
    with caplog.at_level(logging.INFO, "test.local"):
        LocalProcess(argv, tmp_path).run(log, "step x", on_line=seen.append)
    assert seen == ["one", "two"]
    assert "one" in caplog.messages and "two" in caplog.messages


def test_the_jobs_own_error_is_the_failure_reason(tmp_path):
    argv = script(
        tmp_path,
        "import sys\nprint('working')\nsys.stderr.write('POWERFL-ERROR: inputs.train.uri: missing\\n')\nsys.exit(2)\n",
    )
    with pytest.raises(StepFailed) as info:
        LocalProcess(argv, tmp_path).run(log, "step train of job 'J' at party 10000")
    assert str(info.value) == "step train of job 'J' at party 10000 failed: inputs.train.uri: missing"
    assert info.value.returncode == 2


def test_a_crash_quotes_the_last_lines(tmp_path):
    argv = script(tmp_path, "raise RuntimeError('java gateway exited')\n")
    with pytest.raises(StepFailed, match=r"step x exited with code 1; last output: .*java gateway exited"):
        LocalProcess(argv, tmp_path).run(log, "step x")


def test_a_missing_program_fails_naming_it(tmp_path):
    with pytest.raises(StepFailed, match=r"cannot start 'no-such-spark-submit'"):
        LocalProcess(["no-such-spark-submit"], tmp_path).run(log, "step x")


def test_kill_stops_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    argv = script(
        tmp_path,
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\ntime.sleep(600)\n",
    )
    process = LocalProcess(argv, tmp_path)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            process.run(log, "step x")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    process.kill()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(errors[0], StepFailed) and "was killed" in str(errors[0])
    for _ in range(100):  # the orphaned grandchild is reaped by init shortly after SIGKILL
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"child {child} of the step survived kill()")


def test_a_step_outliving_its_supervisor_is_found_by_the_next_try_through_its_record(tmp_path):
    """A scheduler's kill -9 leaves the step (own process group) running: the next try finds, waits for or kills it."""
    record = tmp_path / "records" / "job.10000.train.json"
    argv = script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    process = LocalProcess(argv, tmp_path)
    thread = threading.Thread(target=lambda: pytest.raises(StepFailed, process.run, log, "step x", record=record))
    thread.start()
    for _ in range(200):
        if record.exists():
            break
        time.sleep(0.05)
    previous = previous_step(record)  # as the next try sees it while this one's supervisor is gone
    assert previous is not None and previous.running()
    assert previous_step(tmp_path / "records" / "other.json") is None
    previous.kill()
    previous.wait(log, "step x", poll=0.05)
    assert not previous.running()
    thread.join(30)
    ended = previous_step(record)  # the supervisor saw it end: the record says how (here: killed)
    assert ended is not None and ended.exit_code == -9 and not ended.running()


def test_a_step_ending_under_its_supervisor_records_its_exit_code(tmp_path):
    """A supervisor killed after its step ended (while it tells the peers) leaves a record of a step that succeeded."""
    record = tmp_path / "r.json"
    LocalProcess(script(tmp_path, "print('done')\n"), tmp_path).run(log, "step x", record=record)
    ended = previous_step(record)
    assert ended is not None and ended.exit_code == 0 and not ended.running()
    assert record_path("job 1", "10000", "train", "ab").name == "job_1.10000.train.ab.json"
