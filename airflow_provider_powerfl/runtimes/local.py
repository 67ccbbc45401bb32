"""The local runtime: the step's spark-submit as a child process in its own process group.

Every output line goes to the task log as it comes; the job's own
``POWERFL-ERROR:`` line (see ``spark_jobs/common/runner.py``) becomes the
task's failure reason. Killing the task kills the whole group (spark-submit,
its JVM and the Python workers).

A step in its own group outlives a task whose supervisor is killed outright (a scheduler's kill -9): the
record ``run(record=...)`` writes (the process, then its exit code) lets the task's next try find it
(``previous_step``), wait for it and take its result, rather than start a second step the peers no longer
answer (Airflow also tries again a task whose task runner, in its own process group, finished the step after
the supervisor died). The operator removes the record when the task fails; records older than a day go.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.jobs.contract import step_error_in
from airflow_provider_powerfl.runtimes.command import local_path

_TAIL = 20  # last output lines quoted when a job dies without a POWERFL-ERROR line
_KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL


class StepFailed(PowerFLError):
    """The Spark step exited non-zero; the message is the job's own error when it gave one."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


class StepOutput:
    """A step's output as it comes: each line to the task log, its ``POWERFL-ERROR:`` line and last lines kept for
    the failure's reason (the local runtime's and the step server's client alike)."""

    def __init__(self, log: logging.Logger | logging.LoggerAdapter, on_line: Callable[[str], None] | None = None) -> None:
        self.log, self.on_line = log, on_line
        self.error: str | None = None
        self.tail: deque[str] = deque(maxlen=_TAIL)

    def line(self, raw: str) -> None:
        line = raw.rstrip("\n")
        self.log.info("%s", line)
        self.tail.append(line)
        self.error = step_error_in(line) or self.error
        if self.on_line is not None:
            self.on_line(line)

    def check(self, what: str, code: int, killed: bool) -> None:
        """Raise StepFailed naming ``what`` unless the step exited 0."""
        if code == 0:
            return
        if killed:
            raise StepFailed(f"{what} was killed", code)
        if self.error:
            raise StepFailed(f"{what} failed: {self.error}", code)
        last = " | ".join(line for line in self.tail if line.strip())[-2000:]
        raise StepFailed(f"{what} exited with code {code}; last output: {last}", code)


class LocalProcess:
    """Runs one argv in ``cwd``; ``run`` blocks, ``kill`` may be called from another thread."""

    def __init__(self, argv: Sequence[str], cwd: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.cwd = Path(cwd)
        environ = dict(os.environ if env is None else env)
        environ["PATH"] = local_path(environ)
        self.env = environ
        self._proc: subprocess.Popen[str] | None = None
        self._killed = False

    def run(
        self,
        log: logging.Logger | logging.LoggerAdapter,
        what: str,
        on_line: Callable[[str], None] | None = None,
        record: Path | None = None,
    ) -> None:
        """Stream output into ``log``; raise StepFailed naming ``what`` if the process exits non-zero. ``record``: a
        file naming the process, and once it ended here its exit code, for ``previous_step``."""
        log.info("running %s in %s: %s", what, self.cwd, " ".join(self.argv))
        try:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,  # own process group: kill() reaches the JVM and Python workers
            )
        except OSError as exc:
            raise StepFailed(f"{what}: cannot start {self.argv[0]!r}: {exc.strerror or exc}", -1) from exc
        if record is not None:
            write_record(record, self._proc.pid)
        try:
            self._stream(log, what, on_line)
        finally:
            if record is not None:
                write_record(record, self._proc.pid, self._proc.poll())

    def _stream(self, log: logging.Logger | logging.LoggerAdapter, what: str, on_line: Callable[[str], None] | None) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        output = StepOutput(log, on_line)
        for raw in self._proc.stdout:
            output.line(raw)
        output.check(what, self._proc.wait(), self._killed)

    def kill(self) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after a grace period."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._killed = True
        for sig in (signal.SIGTERM, signal.SIGKILL):  # KILL also reaches children that outlive the leader
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(_KILL_GRACE)
            except subprocess.TimeoutExpired:
                pass


RECORDS = Path(tempfile.gettempdir()) / "powerfl-steps"  # this machine's running steps, one file each


def record_path(*names: str) -> Path:
    """The record file of the step named by `names` (job, party, task, run) on this machine."""
    return RECORDS / (re.sub(r"[^A-Za-z0-9._-]", "_", ".".join(names)) + ".json")


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat), None if there is none: with the pid,
    it names one process, not a later one that reuses the number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else fields[19]  # a zombie has ended


RECORD_DAYS = 1.0  # a task is not tried again after that


def write_record(path: Path, pid: int, exit_code: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if exit_code is None:
        record = {"pid": pid, "started": _started(pid), "at": time.time()}
        for old in path.parent.glob("*.json"):  # the successes' records of past days
            try:
                if old.stat().st_mtime < time.time() - RECORD_DAYS * 86400:
                    old.unlink()
            except OSError:
                pass
    else:
        record = {**json.loads(path.read_text()), "exit": exit_code}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)  # whole or not at all: a kill may come at any moment


class PreviousStep:
    """The step a former try of a task started and left running when its supervisor died (``previous_step``)."""

    def __init__(self, pid: int, started: str | None, at: float, record: Path, exit_code: int | None = None) -> None:
        self.pid, self.started, self.at, self.record = pid, started, at, record
        self.exit_code = exit_code  # None: it ended unseen (or runs still)

    def running(self) -> bool:
        return self.started is not None and _started(self.pid) == self.started

    def wait(self, log: logging.Logger | logging.LoggerAdapter, what: str, poll: float = 1.0) -> None:
        """Until it ended (it is no child of ours: its exit code is lost; its result file tells)."""
        if self.running():
            log.warning("%s: a former try's step (pid %d) is still running, its task's supervisor gone: waiting for it",
                        what, self.pid)  # fmt: skip
        while self.running():
            time.sleep(poll)

    def kill(self) -> None:
        """SIGKILL its process group (the task is stopped while it waits for the step)."""
        if self.running():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def previous_step(record: Path) -> PreviousStep | None:
    """The step a former try recorded at `record` (it did not fail here: it succeeded, or its supervisor died), if any."""
    try:
        data = json.loads(record.read_text())
        return PreviousStep(int(data["pid"]), data.get("started"), float(data["at"]), record, data.get("exit"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
