"""Calls to this Airflow's own ``/api/v2`` made as the caller (their token), so Airflow checks each one itself.

The api-server serving the request answers them (the request's own host and port), so the flow-server
holds no credentials and no second copy of Airflow's rules for triggering, stopping or clearing runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from airflow_provider_powerfl.orchestration.rest import AirflowApiError, AirflowRestClient, _detail
from airflow_provider_powerfl.plugins.flow_server.auth import caller_token, get_user


class CallerClient(AirflowRestClient):
    """An AirflowRestClient that sends the caller's token (never asks ``/auth/token`` for one)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        super().__init__(base_url, timeout=timeout)
        self._caller_token = token

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._caller_token}"} if auth else {}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise AirflowApiError(f"{method} {self.base_url}{path}: {exc}") from exc
        if response.status_code >= 400:
            raise AirflowApiError(f"{method} {path} -> HTTP {response.status_code}: {_detail(response)}", response.status_code)
        return response

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """``/api/v2<path>``; the JSON reply (None when empty)."""
        response = self._send(method, f"/api/v2{path}", **kwargs)
        return response.json() if response.content else None


def own_base_url(request: Request) -> str:
    """This api-server as reached from inside it: the request's own server address."""
    host, port = request.scope.get("server") or (request.url.hostname, request.url.port)
    return f"{request.url.scheme}://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def caller_client(request: Request, _user: Annotated[object, Depends(get_user)]) -> Iterator[CallerClient]:
    client = CallerClient(own_base_url(request), caller_token(request))
    try:
        yield client
    finally:
        client.close()


Airflow = Annotated[CallerClient, Depends(caller_client)]
