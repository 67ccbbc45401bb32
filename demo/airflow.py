"""One party's local Airflow (SQLite, LocalExecutor): own home, own port, started and stopped as process groups.

Used by the demo and the orchestration integration tests; production
deployments run Airflow their own way (docs/deployment.md).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.orchestration.rest import AirflowApiError, AirflowRestClient

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
USER = "admin"


class AirflowStartError(PowerFLError):
    """A component did not come up; the message carries its log tail."""


@dataclass
class LocalAirflow:
    """
    An Airflow for one party under `home` (``airflow.db``, logs, passwords file), API on 127.0.0.1:`port`.

    :param env: extra environment, e.g. ``AIRFLOW_CONN_POWERFL_DEFAULT``.
    :param log_ports: ports of the worker's and the triggerer's log servers; default `port` + 100 and + 200.
    """

    name: str
    home: Path
    port: int
    dags_folder: Path
    env: Mapping[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    parallelism: int = 6
    log_ports: tuple[int, int] | None = None
    host: str = "127.0.0.1"  # the api-server's address (a party's own in its network namespace: tests/support/netns.py)
    launcher: tuple[str, ...] = ()  # prefix of each component's command, e.g. ("ip", "netns", "exec", "<ns>")
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        bin_dir = str(Path(sys.executable).parent)
        worker_log_port, trigger_log_port = self.log_ports or (self.port + 100, self.port + 200)
        env.update(
            PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]),
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(self.parallelism),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
            AIRFLOW__API__HOST=self.host,
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API_AUTH__JWT_SECRET=self._secret("jwt"),
            AIRFLOW__API__SECRET_KEY=self._secret("api"),
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(worker_log_port),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(trigger_log_port),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="10",
            AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="600",
        )
        env.update(self.env)
        return env

    def _secret(self, kind: str) -> str:
        path = self.home / f".{kind}_secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def prepare(self, template_db: Path | None = None) -> None:
        """Create the home, the admin password and the database (copied from `template_db` when given)."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({USER: self.password}))
        db = self.home / "airflow.db"
        if template_db is not None and template_db.exists():
            shutil.copyfile(template_db, db)  # a fresh, migrated database: same schema, no party data
            return
        self._run_cli(["db", "migrate"], timeout=300)

    def _run_cli(self, args: list[str], timeout: float) -> None:
        log = self.home / f"airflow-{args[0]}.log"
        with log.open("wb") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.environ(),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if proc.returncode != 0:
            raise AirflowStartError(f"{self.name}: airflow {' '.join(args)} exited {proc.returncode}:\n{tail(log)}")

    def start(self, components: tuple[str, ...] = COMPONENTS) -> None:
        env = self.environ()
        for component in components:
            log = (self.home / f"{component}.log").open("ab")  # a restarted component's log goes on
            self._procs[component] = subprocess.Popen(
                [*self.launcher, sys.executable, "-m", "airflow", component],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()

    def wait_healthy(self, timeout: float = 240.0) -> None:
        """Until every component reports healthy; AirflowStartError with the log tail of a dead or slow one."""
        deadline = time.monotonic() + timeout
        client = AirflowRestClient(self.url)
        try:
            while True:
                for component, proc in self._procs.items():
                    if proc.poll() is not None:
                        raise AirflowStartError(
                            f"{self.name}: airflow {component} exited {proc.returncode}:\n{self.log_tail(component)}"
                        )
                try:
                    health = client.health()
                    if all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict)):
                        return
                except AirflowApiError:
                    health = {}
                if time.monotonic() > deadline:
                    raise AirflowStartError(
                        f"{self.name}: Airflow not healthy after {timeout:g}s ({health}):\n{self.log_tail('api-server')}"
                    )
                time.sleep(1.0)
        finally:
            client.close()

    def kill(self, component: str) -> None:
        """SIGKILL one component's process group (a crash: no shutdown of its own); `start((component,))` brings it back."""
        proc = self._procs.pop(component)
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)

    def process_groups(self) -> list[int]:
        """The components' process group ids (each runs in its own session)."""
        return [proc.pid for proc in self._procs.values()]

    def client(self) -> AirflowRestClient:
        return AirflowRestClient(self.url, USER, self.password)

    def log_tail(self, component: str, lines: int = 30) -> str:
        return tail(self.home / f"{component}.log", lines)

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> Path:
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={attempt}.log"

    def stop(self, grace: float = 15.0) -> None:
        """TERM every component's process group, KILL what is left after `grace` seconds, then any straggler of this home.

        Spark steps run in their own process group (so a task can kill its
        step); they are found by the AIRFLOW_HOME they inherited.
        """
        for proc in self._procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self._procs.values():
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._procs.clear()
        for pid in self.stragglers():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stragglers(self) -> list[int]:
        """Processes still running with this Airflow's AIRFLOW_HOME in their environment."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                found.append(int(entry.name))
        return found


def listening(client: AirflowRestClient) -> bool:
    """True once a ``powerfl_listener`` run waits (deferred) for invitations, so an invitation is answered in seconds."""
    try:
        runs = client.get("/dags/powerfl_listener/dagRuns", state="running", limit=5)["dag_runs"]
        return any(
            ti["state"] == "deferred" for run in runs for ti in client.task_instances("powerfl_listener", run["dag_run_id"])
        )
    except AirflowApiError:
        return False


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now (for sessions that must not collide with others)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log {path}: {exc.strerror})"
    return "\n".join(f"    {line}" for line in text[-lines:])
