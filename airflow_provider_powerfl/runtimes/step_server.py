"""A party's warm step server: local steps start in a driver that started before they were asked for.

Why: a spark-submitted step pays ~10-16 s before it can say anything to a peer (launcher and driver JVM,
Python imports, SparkSession, the first Spark jobs' class loading and code generation: docs/spark_jobs.md,
"Warm step server"). The server keeps ``spares`` drivers per Spark settings already through all of that
(``spark_jobs/spare.py``: the same spark-submit command as a step, then a warm-up on tiny inputs) and hands
each step to one of them over a private Unix socket, then starts the next spare while the step runs.

Isolation is the spark-submit path's: one process group per step, used for one step only, so a failing or
killed step ends its own process and nothing of a job is left in the next one. The client (``WarmStep``)
streams the step's output and exit code like ``LocalProcess``; ``kill`` ends the step's process group.
Only local masters are served; the Kubernetes runtime and other masters keep the plain command.

Wire: newline-delimited JSON. Client: ``{"step", "spec", "cwd", "settings"}``, later maybe ``{"op": "kill"}``;
server: ``{"pid"}``, ``{"line"}`` per output line, ``{"exit"}`` (with ``error`` if no spare could start).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.runtimes.class_archive import existing_archive, write_warm_up_spec
from airflow_provider_powerfl.runtimes.command import SparkSettings, local_path, step_command
from airflow_provider_powerfl.runtimes.local import LocalProcess, StepFailed, StepOutput, write_record

log = logging.getLogger(__name__)

READY_LINE = "POWERFL-SPARE-READY"  # spark_jobs/spare.py prints it once warm
KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL, as the local runtime's


class Spare:
    """One warm driver (its own process group and directory), for one step."""

    def __init__(self, settings: SparkSettings, root: Path, environ: Mapping[str, str], warm_up: bool) -> None:
        self.key = settings_key(settings)
        self.dir = Path(tempfile.mkdtemp(prefix="spare-", dir=root))
        self.control = self.dir / "control.sock"
        argv = step_command("spare", "powerfl-spare", settings, existing_archive(environ))[:-2]  # without --spec spec.json
        argv += ["--control", str(self.control), "--server", str(os.getpid())]
        if warm_up:  # a spare started for a waiting step skips it: the step would wait for it
            argv += ["--warm-up", str(write_warm_up_spec(self.dir / "warm-up"))]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, cwd=self.dir, env={**environ, "PATH": local_path(environ)}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
            start_new_session=True,
        )  # fmt: skip
        self.pid = self.proc.pid
        self.ready = threading.Event()
        self.tail: deque[str] = deque(maxlen=20)  # the warm-up's last lines, for a spare that died
        threading.Thread(target=self._warm, name=f"powerfl-spare-{self.pid}", daemon=True).start()

    def _warm(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the warm-up's output stays in the server's log
            if line.rstrip("\n") == READY_LINE:
                break
            self.tail.append(line.rstrip("\n"))
            log.debug("spare %d: %s", self.pid, line.rstrip("\n"))
        self.ready.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hand(self, order: Mapping[str, Any] | None) -> None:
        """Give the spare its step (None: retire it); it reads until the server closes its end."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(self.control))
            conn.sendall(json.dumps(order).encode() if order is not None else b"")

    def kill(self) -> None:
        """SIGTERM the spare's process group, SIGKILL it after KILL_GRACE."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                pass

    def retire(self) -> None:
        try:
            self.hand(None)
        except OSError:
            self.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def settings_key(settings: SparkSettings) -> str:
    return json.dumps(asdict(settings), sort_keys=True, default=dict)


class StepServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Serves steps on ``socket_path`` from warm spares: ``spares`` kept per Spark settings seen (or ``prewarm``ed);
    a spare idle for ``max_age`` seconds is replaced (it holds the code of when it started)."""

    daemon_threads = True

    def __init__(self, socket_path: str | os.PathLike[str], *, spares: int = 1, max_age: float = 3600.0,
                 prewarm: Sequence[SparkSettings] = (), environ: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.path = Path(socket_path)
        self.spares, self.max_age = spares, max_age
        self.environ = dict(os.environ if environ is None else environ)
        self.root = Path(tempfile.mkdtemp(prefix="powerfl-step-server-"))
        self._idle: dict[str, list[Spare]] = {}  # per settings key: warm or warming, oldest first
        self._running: set[Spare] = set()
        self._lock = threading.Lock()
        self.path.unlink(missing_ok=True)
        old = os.umask(0o177)  # only this user may hand steps to the server
        try:
            super().__init__(str(self.path), _Handler)
        finally:
            os.umask(old)
        for settings in prewarm:
            self._fill(settings.check())

    def start(self) -> StepServer:
        """Serve in a daemon thread (tests, benchmarks); ``serve_forever`` for the CLI."""
        threading.Thread(target=self.serve_forever, name="powerfl-step-server", daemon=True).start()
        return self

    def wait_ready(self, settings: SparkSettings, timeout: float | None = None) -> bool:
        """Whether ``spares`` spares for ``settings`` are warm within ``timeout`` seconds (benchmarks, tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            pool = list(self._idle.get(settings_key(settings), []))
        for spare in pool:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not spare.ready.wait(remaining) or not spare.alive():
                return False
        return len(pool) >= self.spares

    def take(self, settings: SparkSettings) -> Spare:
        """A spare for ``settings``: a warm one, else the one closest to warm, else a new one; the pool is refilled."""
        key = settings_key(settings)
        with self._lock:
            pool = self._idle.setdefault(key, [])
            for spare in [s for s in pool if not s.alive() or time.monotonic() - s.started > self.max_age]:
                pool.remove(spare)
                threading.Thread(target=spare.retire, daemon=True).start()
            ready = [s for s in pool if s.ready.is_set()]
            spare = ready[0] if ready else pool[0] if pool else Spare(settings, self.root, self.environ, warm_up=False)
            if spare in pool:
                pool.remove(spare)
            self._running.add(spare)
        self._fill(settings)
        return spare

    def _fill(self, settings: SparkSettings) -> None:
        with self._lock:
            pool = self._idle.setdefault(settings_key(settings), [])
            while len(pool) < self.spares:
                pool.append(Spare(settings, self.root, self.environ, warm_up=True))

    def done(self, spare: Spare) -> None:
        with self._lock:
            self._running.discard(spare)
        shutil.rmtree(spare.dir, ignore_errors=True)

    def server_close(self) -> None:
        """Stop serving; every spare and every step still running here is killed."""
        super().server_close()
        with self._lock:
            spares = [s for pool in self._idle.values() for s in pool] + list(self._running)
            self._idle.clear()
        for spare in spares:
            spare.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        self.path.unlink(missing_ok=True)


class _Handler(socketserver.StreamRequestHandler):
    server: StepServer
    rbufsize = 0  # unbuffered: _watch reads on while finish() closes rfile, which a buffered reader's lock would block

    def handle(self) -> None:
        order = json.loads(self.rfile.readline() or "null")
        if not isinstance(order, dict):
            return
        spare = self.server.take(SparkSettings(**order.pop("settings")).check())
        try:
            self._run(spare, order)
        finally:
            self.server.done(spare)

    def _send(self, **message: Any) -> bool:
        try:
            self.wfile.write((json.dumps(message) + "\n").encode())
            self.wfile.flush()
            return True
        except OSError:  # the client is gone (its task's supervisor died): the step goes on, its output to our log
            return False

    def _run(self, spare: Spare, order: dict[str, Any]) -> None:
        spare.ready.wait()
        try:
            spare.hand(order)
        except OSError as exc:
            spare.kill()
            why = " | ".join(spare.tail)[-2000:]
            self._send(exit=spare.proc.wait(), error=f"the step server's spare could not start ({exc}): {why}")
            return
        listening = self._send(pid=spare.pid)
        threading.Thread(target=self._watch, args=(spare,), daemon=True).start()
        assert spare.proc.stdout is not None
        for line in spare.proc.stdout:
            listening = listening and self._send(line=line.rstrip("\n"))
            if not listening:
                log.info("step %d: %s", spare.pid, line.rstrip("\n"))
        self._send(exit=spare.proc.wait())

    def _watch(self, spare: Spare) -> None:
        """The client's later messages: ``kill`` ends the step; a closed connection leaves it running."""
        try:
            for line in self.rfile:
                if json.loads(line).get("op") == "kill":
                    spare.kill()
                    return
        except (OSError, ValueError):  # the connection closed under us, or a broken message: nothing to kill
            return


class StepServerUnavailable(PowerFLError):
    """Nothing answers on the step server's socket: no step was started (the caller may spark-submit instead)."""


class WarmStep:
    """One step run by a party's step server; ``run``/``kill`` as ``LocalProcess`` (run in the spec's directory)."""

    def __init__(self, socket_path: str | os.PathLike[str], step: str, spec: Path, settings: SparkSettings) -> None:
        self.socket_path, self.step, self.spec, self.settings = str(socket_path), step, Path(spec).resolve(), settings
        self.pid: int | None = None
        self._conn: socket.socket | None = None
        self._killed = False

    def run(self, log: logging.Logger | logging.LoggerAdapter, what: str, on_line: Callable[[str], None] | None = None,
            record: Path | None = None) -> None:  # fmt: skip
        """Stream the step's output into ``log``; StepFailed naming ``what`` if it exits non-zero."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.socket_path)
        except OSError as exc:
            conn.close()
            raise StepServerUnavailable(f"step server {self.socket_path}: {exc.strerror or exc}") from exc
        self._conn = conn
        log.info("running %s on the step server %s", what, self.socket_path)
        order = {"step": self.step, "spec": self.spec.name, "cwd": str(self.spec.parent), "settings": asdict(self.settings)}
        output, code = StepOutput(log, on_line), None
        with conn, conn.makefile("r", encoding="utf-8", errors="replace") as replies:
            conn.sendall((json.dumps(order, default=dict) + "\n").encode())
            for reply in replies:
                message = json.loads(reply)
                if "pid" in message:
                    self.pid = message["pid"]
                    if record is not None:
                        write_record(record, message["pid"])
                elif "line" in message:
                    output.line(message["line"])
                elif "exit" in message:
                    code = int(message["exit"])
                    if message.get("error"):
                        raise StepFailed(f"{what}: {message['error']}", code)
                    break
        if code is None:
            raise StepFailed(f"{what}: the step server {self.socket_path} went away during the step", -1)
        if record is not None and self.pid is not None:
            write_record(record, self.pid, code)
        output.check(what, code, self._killed)

    def kill(self) -> None:
        """Ask the server to end the step's process group; if it cannot be asked, SIGKILL the group from here."""
        self._killed = True
        try:
            assert self._conn is not None
            self._conn.sendall(b'{"op": "kill"}\n')
        except (OSError, AssertionError):
            if self.pid is not None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class LocalStep:
    """A local step: handed to the party's step server when it has one (``server``, a Unix socket) and the step needs
    nothing the server's drivers lack (a local master, no environment of its own such as object-store credentials),
    else, or when no server answers, its spark-submit command ``argv`` in the spec's directory."""

    def __init__(self, step: str, argv: Sequence[str], spec: Path, settings: SparkSettings,
                 env: Mapping[str, str] | None = None, server: str | None = None) -> None:  # fmt: skip
        self.step, self.argv, self.spec, self.settings, self.env, self.server = step, list(argv), spec, settings, env, server
        self._current: WarmStep | LocalProcess | None = None

    def run(self, log: logging.Logger | logging.LoggerAdapter, what: str, on_line: Callable[[str], None] | None = None,
            record: Path | None = None) -> None:  # fmt: skip
        if self.server and (self.env is not None or not self.settings.master.startswith("local")):
            log.info(
                "%s: spark-submit, not the step server (it serves local masters, steps without an environment of their own)", what
            )
        elif self.server:
            self._current = WarmStep(self.server, self.step, self.spec, self.settings)
            try:
                return self._current.run(log, what, on_line, record)
            except StepServerUnavailable as exc:
                log.warning("%s; running spark-submit instead", exc)
        self._current = LocalProcess(self.argv, self.spec.parent, self.env)
        self._current.run(log, what, on_line, record)

    def kill(self) -> None:
        if self._current is not None:
            self._current.kill()
