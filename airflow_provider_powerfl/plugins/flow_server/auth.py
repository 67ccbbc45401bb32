"""Airflow's own authentication and DAG access for every flow-server route (no second user store).

The user comes from Airflow's ``get_user`` (a JWT from ``/auth/token`` or the UI's cookie: 401 without);
what they may see or change is the auth manager's answer for each pipeline DAG. Calls the routes make to
``/api/v2`` carry the caller's own token, so Airflow checks them again.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, Request

User = Annotated[object, Depends(get_user)]


def caller_token(request: Request) -> str:
    """The JWT this request authenticated with (bearer header, else the UI's cookie)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise HTTPException(401, "Not authenticated")
    return token


def readable_dags(user: object) -> set[str]:
    """The DAG ids Airflow lets `user` read."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def may(user: object, dag_id: str, method: str = "GET", entity: DagAccessEntity | None = None) -> bool:
    """Whether Airflow lets `user` do `method` on DAG `dag_id` (its runs, with entity RUN); the DAG need not be parsed yet."""
    return get_auth_manager().is_authorized_dag(method=method, access_entity=entity, details=DagDetails(id=dag_id), user=user)


def require_dag(user: object, dag_id: str, method: str = "GET", entity: DagAccessEntity | None = None) -> None:
    """403 unless Airflow lets `user` do `method` on DAG `dag_id` (its runs, with entity RUN)."""
    if not may(user, dag_id, method, entity):
        raise HTTPException(403, f"Forbidden: {method} on DAG {dag_id!r}")
