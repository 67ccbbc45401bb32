"""What the demo prints: one timed line per stage and per finished task; everything else goes to log files."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError

_T0 = time.monotonic()
FINISHED = ("success", "failed", "upstream_failed", "skipped")


class DemoError(PowerFLError):
    """A demo stage failed; the message says which and carries the relevant log tail."""


def say(text: str) -> None:
    print(f"[{elapsed():6.1f}s] {text}", flush=True)


def elapsed() -> float:
    return time.monotonic() - _T0


def wait_for(what: str, check: Callable[[], Any], timeout: float, poll: float = 1.0) -> Any:
    """Poll ``check`` until it returns something true; DemoError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


class TaskProgress:
    """Prints each task of both parties' runs once, when it has finished, with its duration."""

    def __init__(self, clients: dict[str, Any], dag_id: str, run_id: str) -> None:
        self._clients = clients
        self._dag_id = dag_id
        self._run_id = run_id
        self._seen: set[tuple[str, str]] = set()

    def report(self) -> None:
        for label, client in self._clients.items():
            try:
                tis = client.task_instances(self._dag_id, self._run_id)
            except PowerFLError:
                continue
            for ti in sorted(tis, key=lambda ti: str(ti.get("end_date") or "")):
                key = (label, ti["task_id"])
                if ti["state"] in FINISHED and key not in self._seen:
                    self._seen.add(key)
                    took = f" ({ti['duration']:.1f} s)" if isinstance(ti.get("duration"), (int, float)) else ""
                    say(f"{label}: {ti['task_id']} {ti['state']}{took}")
