"""A small client of Airflow's REST API v2: token, trigger, status, stop, XCom.

Plain httpx (an Airflow dependency): the calls PowerFL needs are five, and
``apache-airflow-client`` would pin a second copy of the API models.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_powerfl.exceptions import PowerFLError

TERMINAL = ("success", "failed")


class AirflowApiError(PowerFLError):
    """The API refused a call or could not be reached; the message carries its detail."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirflowRestClient:
    """
    One Airflow's REST API v2.

    :param base_url: e.g. ``http://127.0.0.1:8081``.
    :param username: for ``POST /auth/token`` (SimpleAuthManager or FAB); None: no auth (all-admins mode).
    :param password: the user's password.
    """

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing
    def token(self) -> str:
        """A JWT from ``POST /auth/token``."""
        body = {"username": self._username, "password": self._password}
        response = self._send("POST", "/auth/token", json=body, auth=False)
        return response.json()["access_token"]

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {}
        if auth and self._username is not None:
            if self._token is None:
                self._token = self.token()
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise AirflowApiError(f"{method} {self.base_url}{path}: {exc}") from exc
        if response.status_code == 401 and auth and self._token is not None:
            self._token = None  # expired: one fresh token, one retry
            return self._send(method, path, auth=auth, **kwargs)
        if response.status_code >= 400:
            raise AirflowApiError(f"{method} {path} -> HTTP {response.status_code}: {_detail(response)}", response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", f"/api/v2{path}", params=params or None).json()

    # ------------------------------------------------------------ calls
    def health(self) -> dict[str, Any]:
        return self._send("GET", "/api/v2/monitor/health", auth=False).json()

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any], run_id: str | None = None, note: str | None = None) -> dict[str, Any]:
        """``POST /api/v2/dags/{dag_id}/dagRuns``; Airflow validates the conf against the DAG's Params."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf)}
        if run_id:
            body["dag_run_id"] = run_id
        if note:
            body["note"] = note
        return self._send("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body).json()

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def find_run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        try:
            return self.run(dag_id, run_id)
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise

    def stop(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Mark the run failed: Airflow kills its running tasks (each announces the stop to the other parties)."""
        return self._send("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"}).json()

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, deserialize="true").get("value")

    def wait_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 2.0, on_poll: Any = None) -> dict[str, Any]:
        """Poll until the run is success or failed; AirflowApiError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.find_run(dag_id, run_id)
            if run is not None and run["state"] in TERMINAL:
                return run
            if on_poll is not None:
                on_poll(run)
            if time.monotonic() > deadline:
                state = run["state"] if run else "not created"
                raise AirflowApiError(f"run {run_id} of {dag_id} at {self.base_url} is still {state} after {timeout:g}s")
            time.sleep(poll)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return str(detail)[:2000]
