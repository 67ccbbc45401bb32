"""Pipeline routes: push (validated, stored where the DAG factory reads), list, show, delete."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pipelines")
