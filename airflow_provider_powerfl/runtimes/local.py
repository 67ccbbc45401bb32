"""The local runtime: the step's spark-submit as a child process in its own process group.

Every output line goes to the task log as it comes; the job's own
``POWERFL-ERROR:`` line (see ``spark_jobs/common/runner.py``) becomes the
task's failure reason. Killing the task kills the whole group (spark-submit,
its JVM and the Python workers).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
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

    def run(self, log: logging.Logger | logging.LoggerAdapter, what: str, on_line: Callable[[str], None] | None = None) -> None:
        """Stream output into ``log``; raise StepFailed naming ``what`` if the process exits non-zero."""
        log.info("running %s in %s: %s", what, self.cwd, " ".join(self.argv))
        error: str | None = None
        tail: deque[str] = deque(maxlen=_TAIL)
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
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.rstrip("\n")
            log.info("%s", line)
            tail.append(line)
            error = step_error_in(line) or error
            if on_line is not None:
                on_line(line)
        code = self._proc.wait()
        if code == 0:
            return
        if self._killed:
            raise StepFailed(f"{what} was killed", code)
        if error:
            raise StepFailed(f"{what} failed: {error}", code)
        last = " | ".join(line for line in tail if line.strip())[-2000:]
        raise StepFailed(f"{what} exited with code {code}; last output: {last}", code)

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
